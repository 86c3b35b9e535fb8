# bench_node_options NAME: NODE_OPTIONS of the chart's NAME container (webhook|reconciler) for a
# process started outside a container: Node applies --max-old-space-size-percentage to the cgroup
# limit, and out of a container to the machine's memory, so the percentage becomes MiB of the
# chart's memory limit. Needs ROOT (the checkout), helm from the control-plane cache, and yq.
bench_node_options() {
  local name=$1 helm rendered limit options percent mib
  helm=$(ls "${BULKHEAD_CACHE:-$HOME/.cache/bulkhead}"/bin/helm-*/helm | head -n1)
  rendered=$("$helm" template bulkhead "$ROOT/charts/bulkhead" --show-only "templates/$name-deployment.yaml")
  limit=$(yq -r '.spec.template.spec.containers[0].resources.limits.memory' <<<"$rendered")
  options=$(yq -r '.spec.template.spec.containers[0].env[] | select(.name == "NODE_OPTIONS") | .value' <<<"$rendered")
  case $limit in
    *Gi) mib=$((${limit%Gi} * 1024)) ;;
    *Mi) mib=${limit%Mi} ;;
    *) echo "chart: $name memory limit $limit is not in Mi or Gi" >&2; return 1 ;;
  esac
  percent=$(grep -o 'max-old-space-size-percentage=[0-9]*' <<<"$options" | cut -d= -f2)
  [[ -n $percent ]] || { echo "chart: $name sets no --max-old-space-size-percentage ($options)" >&2; return 1; }
  echo "${options/--max-old-space-size-percentage=$percent/--max-old-space-size=$((mib * percent / 100))}"
}

# The image's glibc allocator settings (ENV MALLOC_* in the Dockerfile), exported so that the
# processes a benchmark starts allocate as they do in the container.
bench_image_malloc_env() {
  local line
  while read -r line; do
    export "${line#ENV }"
  done < <(grep -E '^ENV MALLOC_[A-Z_]+=[0-9]+$' "$ROOT/Dockerfile")
}
bench_image_malloc_env
