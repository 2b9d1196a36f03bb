package rollout

import "time"

// Catalog returns the releases of p that Decide may offer some device at
// now, newest first: those that are not yanked, paused or halted and whose
// rollout has started (a stage in force, or no stages). A paused platform
// offers nothing. It is the list a client shows its user to pick from
// (AutoConnect's update menu): the same for every device, since the
// listing request does not say which device asks; a pick is then decided
// for the device that makes it (Request.Want), which may still be told
// no.
func (p *Platform) Catalog(now time.Time, halts Halts) []*Release {
	if p == nil || p.Paused {
		return nil
	}
	var out []*Release
	for _, r := range p.Releases {
		if r.Yanked || r.Paused || isHalted(halts, r) {
			continue
		}
		if stage, _ := r.StageAt(now); stage < 0 && len(r.Stages) > 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}
