"""The Kubernetes streaming protocols (websocket, SPDY/3.1; exec, attach, port-forward), server side,
for the node's kubelet API."""
