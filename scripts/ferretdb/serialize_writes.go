// Added to FerretDB's handler package by scripts/install.sh.
//
// FerretDB 1.24 runs findAndModify, update and delete as a query followed by a separate write,
// so two clients can both match a document by its old state (two workers claiming one job, a
// lost $inc). MongoDB applies each of these to a document atomically, and Switchboard's
// conditional updates rely on that; one lock around the writing commands restores it.

package handler

import (
	"context"
	"sync"

	"github.com/FerretDB/wire"
)

var writeMu sync.Mutex

func serializeWrites(commands map[string]*command) {
	for _, name := range []string{"delete", "findAndModify", "findandmodify", "insert", "update"} {
		cmd := commands[name]
		if cmd == nil || cmd.Handler == nil {
			continue
		}
		next := cmd.Handler
		cmd.Handler = func(ctx context.Context, msg *wire.OpMsg) (*wire.OpMsg, error) {
			writeMu.Lock()
			defer writeMu.Unlock()
			return next(ctx, msg)
		}
	}
}
