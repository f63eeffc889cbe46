// Stand-in for github.com/technosophos/moniker, which the Go module proxy does not serve:
// Tiller uses it only to name a release installed without --name.
module github.com/technosophos/moniker

go 1.24.0
