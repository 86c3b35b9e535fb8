{{/* Names and labels shared by every template. */}}

{{- define "bulkhead.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name; cluster-scoped objects (webhook configurations, ClusterRoles) use it, so two releases never clash. */}}
{{- define "bulkhead.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bulkhead.webhook.fullname" -}}
{{- printf "%s-webhook" (include "bulkhead.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulkhead.reconciler.fullname" -}}
{{- printf "%s-reconciler" (include "bulkhead.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulkhead.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "bulkhead.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bulkhead
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "webhook"). */}}
{{- define "bulkhead.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulkhead.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bulkhead.componentLabels" -}}
{{ include "bulkhead.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bulkhead.webhook.serviceAccountName" -}}
{{- default (include "bulkhead.webhook.fullname" .) .Values.webhook.serviceAccount.name -}}
{{- end -}}

{{- define "bulkhead.reconciler.serviceAccountName" -}}
{{- default (include "bulkhead.reconciler.fullname" .) .Values.reconciler.serviceAccount.name -}}
{{- end -}}

{{/* The Service the apiserver calls the webhook through (its DNS names are the serving certificate's SANs). */}}
{{- define "bulkhead.webhook.serviceName" -}}
{{- include "bulkhead.webhook.fullname" . -}}
{{- end -}}

{{- define "bulkhead.webhook.certSecretName" -}}
{{- default (printf "%s-cert" (include "bulkhead.webhook.fullname" .)) .Values.webhook.certSecretName -}}
{{- end -}}

{{- define "bulkhead.reconciler.leaseName" -}}
{{- default (include "bulkhead.reconciler.fullname" .) .Values.reconciler.leaseName -}}
{{- end -}}

{{- define "bulkhead.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The opt-in selector every webhook shares; the release namespace is always left out so Bulkhead can never block its own recovery. */}}
{{- define "bulkhead.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: {{ .Values.namespaceOptIn.labelKey | quote }}
      operator: In
      values: [{{ .Values.namespaceOptIn.labelValue | quote }}]
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{ .Release.Namespace | quote }}]
{{- end -}}

{{/* clientConfig for one endpoint: (dict "ctx" $ "path" "/mutate/pod"). webhook.url points the apiserver at a webhook run outside the cluster. */}}
{{- define "bulkhead.clientConfig" -}}
{{- $v := .ctx.Values.webhook -}}
clientConfig:
  {{- if $v.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $v.url) .path | quote }}
  {{- else }}
  service:
    name: {{ include "bulkhead.webhook.serviceName" .ctx }}
    namespace: {{ .ctx.Release.Namespace }}
    path: {{ .path | quote }}
    port: {{ $v.service.port }}
  {{- end }}
  {{- if $v.caBundle }}
  caBundle: {{ $v.caBundle | quote }}
  {{- end }}
{{- end -}}

{{/* Labels and annotations that tell an injector to fill in caBundle (none when webhook.caBundle is given). */}}
{{- define "bulkhead.webhookConfigurationMeta" -}}
labels:
  {{- include "bulkhead.labels" . | nindent 2 }}
  {{- if and (not .Values.certManager.enabled) (not .Values.webhook.caBundle) }}
  bulkhead.dev/inject-ca: "true"
  {{- end }}
{{- if and .Values.certManager.enabled (not .Values.webhook.caBundle) }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "bulkhead.webhook.fullname" .) }}
{{- end }}
{{- end -}}

{{/* Scheduling of one component: (dict "ctx" $ "component" "webhook" "values" .Values.webhook). Replicas spread over nodes unless affinity is given. */}}
{{- define "bulkhead.placement" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if .values.affinity }}
  {{- toYaml .values.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "bulkhead.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 14 }}
{{- end }}
{{- end -}}

{{/* An env var from a Secret key, only when the Secret is named: (dict "env" "SLACK_TOKEN" "ref" .Values.slack.tokenSecret). */}}
{{- define "bulkhead.secretEnv" -}}
{{- if .ref.name }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ .ref.key | quote }}
{{- end }}
{{- end -}}
