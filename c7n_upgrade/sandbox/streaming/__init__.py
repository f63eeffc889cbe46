"""The Kubernetes streaming protocols (websocket, SPDY/3.1; exec, attach, port-forward), server side,
shared by the emulator's API server and the node's kubelet API."""
