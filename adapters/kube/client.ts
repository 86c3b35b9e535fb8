// One place that loads credentials and builds API clients; only main.ts files call it.
import * as k8s from "@kubernetes/client-node";
import { createHash } from "node:crypto";

type RequestContext = Parameters<k8s.KubeConfig["applySecurityAuthentication"]>[0];
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/**
 * A KubeConfig whose API requests and watches share one connection pool.
 *
 * client-node 2.0 builds a new undici Agent for every request (applySecurityAuthentication), so
 * every API call opened a new connection with a full TLS handshake (a fresh agent has no session
 * to resume) — CPU on both ends, the apiserver's included — and each agent then held its idle
 * socket for undici's keep-alive time. Here every request gets one shared agent per TLS identity
 * (server, TLS settings, CA, client certificate and key as read for this request), so connections
 * are kept alive and reused. A changed identity (a certificate rotated on disk) gets a new agent;
 * the old one is closed once its requests are done. Credentials from an exec plugin may carry
 * their own client certificate: those requests keep the library's own agent.
 */
export class SharedConnectionKubeConfig extends k8s.KubeConfig {
  private shared: { identity: string; dispatcher: Dispatcher } | undefined;
  /** Agents handed out so far (a test reads it: one per identity, not one per request). */
  agentsCreated = 0;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    const identity = this.tlsIdentity();
    if (fresh === undefined || identity === undefined) return;
    if (this.shared?.identity !== identity) {
      const previous = this.shared?.dispatcher;
      this.shared = { identity, dispatcher: fresh };
      this.agentsCreated += 1;
      // Lets its in-flight requests (and watches) finish; a close error only means it is gone.
      previous?.close().catch(() => {});
    }
    context.setDispatcher(this.shared.dispatcher);
  }

  /** What the agent's connections depend on, or undefined when it cannot be known up front. */
  private tlsIdentity(): string | undefined {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    // Of the library's authenticators only exec plugins can return a client certificate. The
    // in-cluster ServiceAccount is an auth provider too (tokenFile: a header only), so it shares.
    const provider = user?.authProvider as { name?: string; config?: { exec?: unknown } } | undefined;
    if (!cluster || !user || user.exec || provider?.name === "exec" || provider?.config?.exec) return undefined;
    const hash = createHash("sha256");
    const settings = [cluster.name, cluster.server, cluster.skipTLSVerify, cluster.tlsServerName, cluster.proxyUrl];
    hash.update(JSON.stringify([...settings, user.name]));
    // Read as the library reads them for each request, so a file rotated on disk is noticed.
    for (const material of [
      k8s.bufferFromFileOrString(cluster.caFile, cluster.caData),
      k8s.bufferFromFileOrString(user.certFile, user.certData),
      k8s.bufferFromFileOrString(user.keyFile, user.keyData),
    ]) {
      hash.update(String(material?.length ?? -1));
      if (material) hash.update(material);
    }
    return hash.digest("hex");
  }
}

/** Loads $KUBECONFIG (or the default kubeconfig), or the in-cluster ServiceAccount. */
export function loadKubeConfig(kubeconfigPath?: string, context?: string): k8s.KubeConfig {
  const kc = new SharedConnectionKubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  return kc;
}

export interface KubeClients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  policy: k8s.PolicyV1Api;
  custom: k8s.CustomObjectsApi;
  events: k8s.EventsV1Api;
  coordination: k8s.CoordinationV1Api;
  admissionRegistration: k8s.AdmissionregistrationV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function makeClients(kc: k8s.KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    events: kc.makeApiClient(k8s.EventsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    admissionRegistration: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** The HTTP status of an API error from @kubernetes/client-node, if it has one. */
export function apiStatusCode(err: unknown): number | undefined {
  if (err && typeof err === "object" && "code" in err && typeof (err as { code: unknown }).code === "number") {
    return (err as { code: number }).code;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => apiStatusCode(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatusCode(err) === 409;
