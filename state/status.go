package state

import (
	"fmt"

	"github.com/bottle-sh/bottle/engine"
)

// Live is a bottle's status as the engine reports it now.
type Live struct {
	Status   string
	Services map[string]ServiceStatus
}

// ServiceStatus is one service of a bottle: its container and the engine's
// status for it (running, exited, ...), or "absent".
type ServiceStatus struct {
	Container string `json:"container"`
	Status    string `json:"status"`
}

// Live combines m with what the engine says now. cs are the containers
// labelled with the bottle's slug; those of a bottle of the same slug under
// another state root (their state label names another dir than stateDir)
// are not this one's. The rules:
//
//	starting / start killed   no metadata.json (see List); "with leftovers"
//	                          and the way out when containers remain
//	stopped                   metadata says so; "with leftovers" when
//	                          containers remain (bottle run cleanup removes them)
//	running                   every service's container runs
//	down                      none does
//	degraded N/M              N of M do
func (m Metadata) Live(cs []engine.Container, stateDir string) Live {
	mine := make([]engine.Container, 0, len(cs))
	for _, c := range cs {
		if st := c.Labels[engine.StateLabel]; st == "" || st == stateDir {
			mine = append(mine, c)
		}
	}
	byName := map[string]engine.Container{}
	for _, c := range mine {
		byName[c.Name] = c
	}
	live := Live{Services: map[string]ServiceStatus{}}
	up := 0
	for svc, name := range m.Services {
		st := "absent"
		if c, ok := byName[name]; ok {
			st = c.Status
			if c.Running {
				up++
			}
		}
		live.Services[svc] = ServiceStatus{Container: name, Status: st}
	}
	leftovers := len(mine) > 0
	switch {
	case m.Status == Starting:
		live.Status = Starting
	case m.Status == StartKilled && leftovers:
		live.Status = "start killed, with leftovers: bottle run cleanup"
	case m.Status == StartKilled:
		live.Status = "start killed: bottle run cleanup"
	case m.Status == Stopped && leftovers:
		live.Status = "stopped, with leftovers"
	case m.Status == Stopped:
		live.Status = Stopped
	case up == len(m.Services) && up > 0:
		live.Status = Running
	case up == 0:
		live.Status = "down"
	default:
		live.Status = fmt.Sprintf("degraded %d/%d", up, len(m.Services))
	}
	return live
}
