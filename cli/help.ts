// Usage text for each command: `kubectl skein <command> --help`.
export const HELP: Record<string, string> = {
  skein: `kubectl skein: install, check and inject the Skein service mesh

Usage: kubectl skein <command> [flags]

Commands:
  install     print the CRDs, the control plane and its identity for \`kubectl apply --server-side -f -\`
  uninstall   print what to delete for \`kubectl delete -f -\` (CRDs only with --crds)
  inject      add skein.dev/inject: enabled to the pod templates of manifests (or the full sidecar with --manual)
  check       check the cluster before (--pre) or after an install
  stat        success rate, requests/s and latency per deployment, pod or route, from the proxies' metrics
  completion  print a bash or zsh completion script
  version     print the CLI version
  help        this text; \`kubectl skein <command> --help\` for a command`,
  install: `Usage: kubectl skein install [--overlay base|ha|cert-manager] [--trust-domain D] [--identity-issuer-dir DIR] [--registry R] [--tag T] [--cluster-networks CIDRS] [--gateway-api-crds skip|install] | kubectl apply --server-side -f -

Prints the CRDs, then manifests/ rendered by \`kubectl kustomize\` (kubectl from $SKEIN_KUBECTL, PATH, or
~/.cache/skein/k8s/<version>/), then the identity objects for this install.

  --overlay              base (default), ha (3 replicas, PodDisruptionBudgets, failurePolicy Fail), or
                         cert-manager (cert-manager issues the identity issuer and the webhook certificate)
  --trust-domain         the mesh's trust domain (default cluster.local)
  --identity-issuer-dir  use your own issuer: tls.crt, tls.key and ca.crt (the trust anchors), checked before
                         printing. With --overlay cert-manager: the trust anchor's tls.crt and tls.key.
                         Without it, a trust anchor and issuer are generated on this machine.
  --registry             where the images come from (default ghcr.io/skein-dev): R/controller and R/proxy,
                         the proxy image being what the webhook injects into every meshed pod
  --tag                  the images' tag (default v<this CLI's version>)
  --cluster-networks     the pod and node CIDRs cluster-authenticated admits without mTLS, comma-separated
                         (default 10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16)
  --gateway-api-crds     skip (default: leave the cluster's Gateway API CRDs, if any, alone) or install (print
                         the standard-channel CRDs of the release Skein is tested with, crds/gateway-api/VERSION,
                         first); HTTPRoute and GRPCRoute need them, \`kubectl skein check\` says which is present`,
  uninstall: `Usage: kubectl skein uninstall [--overlay base|ha|cert-manager] [--crds] | kubectl delete --ignore-not-found -f -

Prints the control plane's objects, webhook configurations first. CRDs (and every object of their kinds)
are kept unless --crds is given. The skein-trust-roots ConfigMaps the identity controller wrote into meshed
namespaces are kept for the pods still meshed; stderr says how to remove them
(kubectl delete configmap -A -l app.kubernetes.io/managed-by=skein-identity).`,
  inject: `Usage: kubectl skein inject [-f FILE|DIR|-]... [--manual]

Reads manifests (files, directories, stdin; multi-document YAML and Lists) and writes them to stdout with
skein.dev/inject: enabled on every pod template (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
Jobs, CronJobs). Nothing else changes, so a GitOps diff shows only the added lines. Other documents pass
through untouched. What was done goes to stderr.

  -f, --filename  a file, a directory of .yaml/.yml/.json files, or - for stdin (default: stdin)
  --manual        write the init container, proxy and volumes the webhook would add (its defaults)`,
  check: `Usage: kubectl skein check [--pre | --proxy] [--wait DURATION] [--output text|json] [--namespace NS] [--kubeconfig FILE] [--context NAME]

Checks the cluster and prints the checks grouped by category, as \`linkerd check\` does: ✓ passed, ‼ warning
(the mesh works for now: a certificate close to expiry, proxies at another version), × failed, with a hint
under each warning and failure. Exits 1 when any check fails; warnings alone exit 0.

  --pre         before installing: API server and version, permissions, no existing install
  --proxy       also each meshed namespace's data plane: proxies up, certificates valid (the proxy's /ready),
                trust roots matching the control plane's anchors, proxy versions (needs get on pods/proxy)
  --wait        run the checks again until none fails or DURATION (e.g. 5m) has passed; the last run is printed
  --output      text (default) or json ({"success", "categories": [{"categoryName", "checks": [{"description",
                "result": success|warning|error, "error", "hint"}]}]}, as \`linkerd check -o json\`)
  --namespace   where the dry-run probe pod is created (default: default)`,
  stat: `Usage: kubectl skein stat deploy|pod|route [NAME] [-n NS | -A] [--from deploy/X | --to deploy/Y] [--window 30s]
                         [--prometheus URL] [--output table|json]

Golden metrics like \`linkerd viz stat\`: SUCCESS (share of responses not 5xx, not 403 - what a proxy answers when an
authorization policy refuses - and not gRPC errors), RPS, LATENCY_P50/P95/P99 (to the response head). Deployments and
pods are measured on their own proxies' inbound side, and every selected meshed one is a row, at 0rps when idle; with
--to, on the named workload's clients (outbound, the rows are those clients); with --from, on X's outbound side (the
rows are the workloads X called); routes (ServiceProfile routes, [default] for the rest) on the callers' outbound
side. A namespace that does not exist is an error (exit 1), not an empty table.

Without --prometheus, every selected proxy's :4191/metrics is read twice through the API server's pod proxy
(you need get on pods/proxy), --window apart, and the rates and quantiles come from the difference: stat takes
the window to answer. With --prometheus, the same numbers come from PromQL over the last --window; Prometheus
must scrape the proxies' :4191/metrics with the pod's namespace and name as \`namespace\` and \`pod\` labels.

  -n, --namespace       the namespace (default: the context's, else default)
  -A, --all-namespaces  every namespace
  --from, --to          deploy/NAME or pod/NAME; --from-namespace / --to-namespace when it lives elsewhere
  -w, --window          how long to measure (default 30s)
  --prometheus          a Prometheus base URL, e.g. http://localhost:9090
  -o, --output          table (default) or json; progress goes to stderr only on a terminal and never with json`,
  completion: `Usage: kubectl skein completion bash|zsh

Prints a completion script for kubectl-skein. Load it with \`source <(kubectl skein completion bash)\` (or zsh).
For \`kubectl skein <TAB>\`, put cli/bin/kubectl_complete-skein on PATH next to kubectl-skein: kubectl
(>= 1.26) asks it.`,
  version: 'Usage: kubectl skein version\n\nPrints the CLI version.',
  help: 'Usage: kubectl skein help [COMMAND]\n\nPrints the usage of kubectl skein or of one command.',
};
