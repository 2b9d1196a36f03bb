package config

import (
	"errors"
	"io/fs"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

// deviceEntry is a [[device]] being loaded, with what is needed to resolve
// its group settings and to report problems at its keys.
type deviceEntry struct {
	d          *rollout.Device
	t          *table
	channelSet bool
}

// groupEntry is a [[group]] being loaded.
type groupEntry struct {
	g *rollout.Group
	t *table
}

// devices loads every whitelist under devices/: [[device]] and [[group]]
// tables, then gives each device the pin and channel of its groups unless
// it sets its own, and checks pins against the device's platform.
func (l *loader) devices(platforms map[string]*platform) ([]*rollout.Device, []*rollout.Group) {
	var files []string
	err := fs.WalkDir(l.fsys, DevicesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case !d.IsDir() && IsConfigFile(p):
			files = append(files, p)
		case d.Type()&fs.ModeSymlink != 0:
			// Not an error (nothing served is wrong), but whatever the
			// link points to is not read: devices there are refused.
			l.probs = append(l.probs, Problem{File: p, Warning: true,
				Message: "a symbolic link: a commit holds the link, not what it points to, so the server does not read it (move the files here instead)"})
		}
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.probs = append(l.probs, Problem{File: DevicesDir + "/", Warning: true,
			Message: "missing: no device is whitelisted, so every device is refused (403)"})
		return nil, nil
	case err != nil:
		l.probs = append(l.probs, Problem{File: DevicesDir + "/", Message: err.Error()})
		return nil, nil
	}
	sort.Strings(files)
	fast := l.readFast(files, platforms)
	n := 0
	for _, ff := range fast {
		n += ff.devices()
	}
	// seen remembers where each MAC was listed; its line is only looked up
	// for a duplicate, since indexing lines costs as much as parsing. It
	// and entries are sized for the devices the fast path read (all of
	// them, in a big fleet): growing maps and slices of a million costs
	// more than filling them.
	seen := make(map[rollout.MAC]*table, n)
	entries := make([]deviceEntry, 0, n)
	groupDefs := map[string]groupEntry{}
	for i, file := range files {
		des, ges, ok := l.fastWhitelist(file, fast[i], seen, groupDefs)
		fast[i] = nil // its source and entries are no longer needed here
		if ok {
			for _, g := range ges {
				groupDefs[g.g.Name] = g
			}
			for _, e := range des {
				seen[e.d.MAC] = e.t
				entries = append(entries, e)
			}
			continue
		}
		t := parseTOML(l.fsys, file, &l.probs)
		if t == nil {
			continue
		}
		for _, gt := range t.tables("group") {
			g := readGroup(gt)
			if g == nil {
				continue
			}
			if first, dup := groupDefs[g.Name]; dup {
				gt.errorf("name", "group %q is already defined at %s:%d", g.Name, first.t.f.name, first.t.line("name"))
				continue
			}
			groupDefs[g.Name] = groupEntry{g: g, t: gt}
		}
		for _, dt := range t.tables("device") {
			e, ok := readDevice(dt, platforms)
			if e.d.MAC != (rollout.MAC{}) {
				if first, dup := seen[e.d.MAC]; dup {
					dt.errorf("mac", "device %s is already listed at %s:%d", e.d.MAC, first.f.name, first.line("mac"))
					ok = false
				} else {
					seen[e.d.MAC] = dt
				}
			}
			if ok {
				entries = append(entries, e)
			}
		}
		t.finish("device", "group")
	}

	checkNames(entries)
	out := make([]*rollout.Device, 0, len(entries))
	for _, e := range entries {
		if l.resolve(e, groupDefs, platforms) {
			out = append(out, e.d)
		}
	}
	gs := make([]*rollout.Group, 0, len(groupDefs))
	for _, g := range groupDefs {
		gs = append(gs, g.g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].Name < gs[j].Name })
	return out, gs
}

// checkNames reports devices that share a name (rollout.DeviceNameKey):
// clients that name the device in their URL (the FUOTA app, ESPHome) are
// answered for the device that name identifies, so it must be one.
func checkNames(entries []deviceEntry) {
	n := 0
	for i := range entries {
		if entries[i].d.Name != "" {
			n++
		}
	}
	// Sized up front: growing a map of a million names costs more than
	// filling it.
	named := make(map[string]*deviceEntry, n)
	for i := range entries {
		e := &entries[i]
		if e.d.Name == "" {
			continue
		}
		key := rollout.DeviceNameKey(e.d.Name)
		if first, dup := named[key]; dup {
			e.t.errorf("name", "name %q is already the name of device %s at %s:%d: devices are looked up by name, so names must be unique",
				e.d.Name, first.d.MAC, first.t.f.name, first.t.line("name"))
			continue
		}
		named[key] = e
	}
}

// deviceKeys are the keys a [[device]] table may have.
var deviceKeys = []string{"mac", "platform", "name", "channel", "groups", "pin"}

// readDevice reads one [[device]] table, checking every rule of the
// schema but one: that its MAC is listed once, which needs all files. It
// reports problems at dt's keys; ok is false when the device cannot be
// used (its MAC, platform, channel or pin is wrong), and the entry's MAC
// is set whenever it was valid. Both whitelist readers,
// the ordinary one and the fast one for big files, use it, so they cannot
// disagree. It only reads platforms, so parts of a file can be read
// concurrently.
func readDevice(dt *table, platforms map[string]*platform) (e deviceEntry, ok bool) {
	e = deviceEntry{d: &rollout.Device{}, t: dt}
	d := e.d
	ok = true
	if s, present := dt.str("mac", true); present {
		mac, err := rollout.ParseMAC(s)
		if err != nil {
			dt.errorf("mac", "%q is not a MAC address (write it as AA:BB:CC:DD:EE:FF)", s)
			ok = false
		}
		d.MAC = mac
	} else {
		ok = false
	}
	if s, present := dt.str("platform", true); present {
		name := strings.ToLower(s)
		if _, known := platforms[name]; !known {
			dt.errorf("platform", "unknown platform %q (no %s/%s.toml)", s, PlatformsDir, name)
			ok = false
		}
		d.Platform = name
	} else {
		ok = false
	}
	d.Name, _ = dt.str("name", false)
	if d.Name != "" && ok {
		if err := rollout.CheckDeviceName(d.Name, d.MAC); err != nil {
			dt.errorf("name", "%v", err)
			ok = false
		}
	}
	if s, present := dt.str("channel", false); present {
		c, err := rollout.ParseChannel(s)
		if err != nil {
			dt.errorf("channel", "%v", err)
			ok = false
		}
		d.Channel, e.channelSet = c, true
	}
	d.Groups = groups(dt, "groups")
	if s, present := dt.str("pin", false); present {
		v, err := rollout.ParseReleaseVersion(s)
		if err != nil {
			dt.errorf("pin", "%q is not a semantic version", s)
			ok = false
		}
		d.Pin = v
	}
	// Unknown keys are errors that fail the load, but the device is still
	// checked further (its pin), so that one round of fixes is enough.
	dt.finish(deviceKeys...)
	return e, ok
}

// readGroup reads a [[group]] table, nil if it has a problem (reported).
// Like readDevice, both whitelist readers use it.
func readGroup(t *table) *rollout.Group {
	defer t.finish("name", "pin", "channel")
	g := &rollout.Group{}
	name, ok := t.str("name", true)
	if ok && !groupName.MatchString(name) {
		t.errorf("name", "group name %q: use 1-64 lower-case letters, digits, '-' and '_'", name)
		ok = false
	}
	g.Name = name
	if s, present := t.str("pin", false); present {
		v, err := rollout.ParseReleaseVersion(s)
		if err != nil {
			t.errorf("pin", "%q is not a semantic version", s)
			ok = false
		}
		g.Pin = v
	}
	if s, present := t.str("channel", false); present {
		c, err := rollout.ParseChannel(s)
		if err != nil {
			t.errorf("channel", "%v", err)
			ok = false
		}
		g.Channel = &c
	}
	if !ok {
		return nil
	}
	return g
}

// resolve gives e's device the pin and channel of its groups and checks
// the pin against the device's platform.
func (l *loader) resolve(e deviceEntry, groups map[string]groupEntry, platforms map[string]*platform) bool {
	d := e.d
	pinFrom := "" // the group the pin comes from, "" for the device's own
	for _, name := range d.Groups {
		g, ok := groups[name]
		if !ok {
			continue
		}
		if g.g.Pin != nil {
			if d.Pin == nil {
				d.Pin, pinFrom = g.g.Pin, name
			} else if pinFrom != "" && !d.Pin.Equal(g.g.Pin) {
				e.t.warnf("groups", "groups %q and %q pin different versions; %s from %q applies", pinFrom, name, d.Pin, pinFrom)
			}
		}
		if !e.channelSet && g.g.Channel != nil {
			d.Channel, e.channelSet = *g.g.Channel, true
		}
	}
	if d.Pin == nil {
		return true
	}
	p := platforms[d.Platform]
	rel := releaseOf(p, d.Pin)
	problem := ""
	switch {
	case rel == nil && p != nil && p.unresolved[rollout.VersionKey(d.Pin)]:
		return true // a GitHub release that cannot be read now: nothing is offered until it can
	case rel == nil:
		problem = "platform " + d.Platform + " has no release " + d.Pin.String()
	case rel.Yanked:
		problem = d.Pin.String() + " is yanked"
	default:
		return true
	}
	if pinFrom == "" {
		e.t.errorf("pin", "pinned to %s, but %s", d.Pin, problem)
	} else {
		g := groups[pinFrom]
		g.t.errorf("pin", "device %s (in %s:%d) is pinned to %s by this group, but %s",
			d.MAC, e.t.f.name, e.t.line(""), d.Pin, problem)
	}
	return false
}

func releaseOf(p *platform, v *semver.Version) *rollout.Release {
	if p == nil || p.Platform == nil {
		return nil
	}
	return p.Release(v)
}
