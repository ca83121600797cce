package egress

// goRest is the rest timer's function: Config.AtRest, unless a connection
// is open or the proxy rests already. A connection is tracked before it
// wakes the proxy, and goRest looks for one while holding restMu, so either
// it sees the connection and does not rest, or the connection's wake waits
// for AtRest to end and then calls Woken: a connection is never served
// with the proxy at rest.
func (p *Proxy) goRest() {
	p.restMu.Lock()
	defer p.restMu.Unlock()
	p.mu.Lock()
	busy := len(p.conns) > 0 || p.shutting.Load()
	p.mu.Unlock()
	if busy || p.rested {
		return
	}
	p.rested = true
	p.cfg.AtRest()
}

// wake calls Config.Woken for the first connection after a rest.
func (p *Proxy) wake() {
	if p.rest == nil {
		return
	}
	p.restMu.Lock()
	defer p.restMu.Unlock()
	if p.rested {
		p.rested = false
		if p.cfg.Woken != nil {
			p.cfg.Woken()
		}
	}
}

// restAgain calls Config.AtRest once more when the proxy rests: a reload
// read and parsed files while the collector may be off.
func (p *Proxy) restAgain() {
	if p.rest == nil {
		return
	}
	p.restMu.Lock()
	defer p.restMu.Unlock()
	if p.rested {
		p.cfg.AtRest()
	}
}
