package resonite_test

import (
	"testing"

	"github.com/hubwire/hubwire/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
