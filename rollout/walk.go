package rollout

import "github.com/Masterminds/semver/v3"

// Path is where a device goes from the version it runs: what it is offered
// now and what it ends up on after installing every offer. See Walk.
type Path struct {
	// First is the decision for the request walked from: what the device
	// gets now.
	First Decision
	// Last is the decision the device ends up with, after installing
	// every release offered on the way; it is First when First offers
	// nothing. Its Outcome is Update only when Loop is set.
	Last Decision
	// Installs are the releases the device installs on the way, in order;
	// First.Release comes first. Empty when First offers nothing.
	Installs []*Release
	// Loop is set when the device would never settle: Last offers a
	// version it ran before on the way (a ping-pong between releases).
	// Walk then stops there.
	Loop bool
}

// Ends returns the release the device ends up running, nil when it
// installs nothing (it stays on the version it runs).
func (p *Path) Ends() *Release {
	if len(p.Installs) == 0 {
		return nil
	}
	return p.Installs[len(p.Installs)-1]
}

// Walk follows a device from req as it would go: it decides, and while the
// answer is an update it decides again as the device asks after flashing
// the offer and rebooting, running the offered release (its version, and
// its image's MD5 as the sketch MD5), at the same time and with the same
// free space and flash chip. It stops when nothing more is offered, or when
// a version the device already ran is offered again (Path.Loop), so it
// takes at most one step per release of the platform. Like Decide it is
// pure; it allocates only for the installs.
func Walk(fleet *Fleet, req Request, halts Halts) Path {
	return walk(req, func(r Request) Decision { return Decide(fleet, r, halts) })
}

// maxWalk bounds a walk whatever decide does; with Decide the loop check
// ends it first, since every step installs another release.
const maxWalk = 1024

// walk is Walk with the decision as a function, so that the loop check
// can be tested with decisions no fleet gives today.
func walk(req Request, decide func(Request) Decision) Path {
	p := Path{First: decide(req)}
	p.Last = p.First
	start := p.First.Current
	for p.Last.Outcome == Update {
		r := p.Last.Release
		if ranBefore(r, start, p.Installs) || len(p.Installs) == maxWalk {
			p.Loop = true
			break
		}
		p.Installs = append(p.Installs, r)
		req.Version, req.SketchMD5 = r.Version.Original(), r.Artifact.MD5
		p.Last = decide(req)
	}
	return p
}

// ranBefore reports whether a device that started on start and installed
// installs has run r's version before.
func ranBefore(r *Release, start *semver.Version, installs []*Release) bool {
	if start != nil && r.Version.Equal(start) {
		return true
	}
	for _, in := range installs {
		if in.Version.Equal(r.Version) {
			return true
		}
	}
	return false
}
