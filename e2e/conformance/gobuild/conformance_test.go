// The Gateway API project's conformance suite, run unchanged: this module only
// pins sigs.k8s.io/gateway-api/conformance (go.mod/go.sum) so `go test -c`
// builds its TestConformance into one binary. The module's own test file cannot
// be built in place: its go.mod replaces sigs.k8s.io/gateway-api with "../",
// which the module cache does not lay out.
package conformance_test

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunConformance(t)
}
