// Package moniker names releases installed without a name, as the original's "adjective-animal".
package moniker

import (
	"math/rand"
	"strings"
)

var (
	adjectives = []string{"amber", "brave", "calm", "dusty", "eager", "fuzzy", "gentle", "hasty", "icy", "jolly"}
	animals    = []string{"ant", "bison", "crab", "dingo", "eel", "ferret", "gecko", "heron", "ibis", "jackal"}
)

// Namer is what Tiller asks for a name.
type Namer interface {
	NameSep(sep string) string
}

type namer struct{}

// New returns a Namer.
func New() Namer { return namer{} }

func (namer) NameSep(sep string) string {
	return strings.Join([]string{adjectives[rand.Intn(len(adjectives))], animals[rand.Intn(len(animals))]}, sep)
}
