package workflow

import (
	"log/slog"

	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/observe"
)

// wrapProvider adds logging and metrics around provider calls.
func wrapProvider(p provider.Provider, typ string, log *slog.Logger, m *metrics.Metrics) provider.Provider {
	return observe.Wrap(p, typ, log, m)
}
