"""The sandbox `helm` executable: speaks the Helm 2 or Helm 3 CLI (shared/reference/helm-cli-contract.md).

Run as `python -m c7n_upgrade.sandbox.helm ARGS...` with C7N_SANDBOX_DIR=D (the D/bin/helm wrapper).
Reads D/sandbox.json (api_url, namespace, helm_dialect, chart_repo_url, plan, tiller_namespace) and
D/faults.json; talks to the sandbox API server over plain Kubernetes REST; appends one line per call
to D/helm-calls.jsonl. One module per seam:

  cli.py        entry point: global flags before the command, the command table, `Error: ...`, exit status
  commands/     meta (version, init), repo (repo, search), releases (list, get values, status, history),
                deploy (upgrade, install): each command's flags and output
  flags.py      a small pflag: Flag, parse_flags, global flags per dialect, Go durations
  strvals.py    --set / --set-string / --set-file
  settings.py   sandbox.json, kubeconfig and context, namespace, repository paths, faults
  repos.py      repositories file and index cache, repo add, chart lookup and download
  engine.py     install/upgrade: values, render, hook Jobs, objects, --wait, revision records
  storage.py    StoredRelease and where each dialect stores it (Secrets / Tiller ConfigMaps)
  output.py     status blocks; formats.py: time formats, YAML/JSON, uitable
  calllog.py    helm-calls.jsonl

Start-up time matters (about 50 calls per run): standard library + PyYAML only.
"""
