package config

import (
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

// splitMinForTests, when set, raises splitMin: tests compare the fast
// path with the ordinary one on the same files.
var splitMinForTests int

// partSize is the size of the parts a big whitelist is parsed in: small
// enough that only a few parse trees of that size are alive at once.
const partSize = 256 << 10

// compactDevice is a [[device]] read by the fast path.
type compactDevice struct {
	d          rollout.Device
	channelSet bool
}

// partResult is what the fast path read from one part of a whitelist.
type partResult struct {
	devices []compactDevice
	groups  []*rollout.Group
	ok      bool
}

// fastWhitelist reads a big whitelist that is valid, fast: in parts on
// all cores, each part's parse tree turned at once into device and group
// entries and dropped, so that no tree of the whole file is ever alive (a
// whitelist of 100,000 devices is ~8 MB of TOML and ~250 MB of trees). It
// returns ok false for a file it does not take: small, not safely
// splittable (see splitAtHeaders), or with anything unusual in it: unknown
// keys, values of the wrong type, invalid values, duplicates. The caller
// then loads the file the ordinary way, which reports every problem with
// file, line and key; so for a file this accepts, both ways give the same
// entries. seen and groupDefs are only read.
func (l *loader) fastWhitelist(file string, platforms map[string]*platform, seen map[rollout.MAC]*table,
	groupDefs map[string]groupEntry) (devices []deviceEntry, groups []groupEntry, ok bool) {
	src, err := readLimited(l.fsys, file, MaxTOMLSize)
	if err != nil || len(src) < max(splitMin, splitMinForTests) {
		return nil, nil, false
	}
	parts := splitAtHeaders(src, "[[device]]", max(runtime.GOMAXPROCS(0), len(src)/partSize))
	if len(parts) < 2 {
		return nil, nil, false
	}
	results := make([]partResult, len(parts))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, p := range parts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = readPart(p, platforms)
		})
	}
	wg.Wait()

	f := &tomlFile{name: file, src: src, probs: &l.probs}
	local := map[rollout.MAC]bool{}
	localGroups := map[string]bool{}
	n, ng := 0, 0
	for _, r := range results {
		if !r.ok {
			return nil, nil, false
		}
		for _, c := range r.devices {
			if _, dup := seen[c.d.MAC]; dup || local[c.d.MAC] {
				return nil, nil, false
			}
			local[c.d.MAC] = true
		}
		for _, g := range r.groups {
			if _, dup := groupDefs[g.Name]; dup || localGroups[g.Name] {
				return nil, nil, false
			}
			localGroups[g.Name] = true
		}
		n += len(r.devices)
		ng += len(r.groups)
	}
	devices = make([]deviceEntry, 0, n)
	groups = make([]groupEntry, 0, ng)
	for _, r := range results {
		for _, c := range r.devices {
			d := c.d
			// A locator for problems found later (pins): the path and
			// the file's source, no parse tree.
			t := &table{f: f, parent: "device", index: len(devices)}
			devices = append(devices, deviceEntry{d: &d, t: t, channelSet: c.channelSet})
		}
		for _, g := range r.groups {
			groups = append(groups, groupEntry{g: g, t: &table{f: f, parent: "group", index: len(groups)}})
		}
	}
	return devices, groups, true
}

// readPart parses one part of a whitelist and reads its tables, or says
// it cannot (ok false). It only reads platforms.
func readPart(part []byte, platforms map[string]*platform) partResult {
	var m map[string]any
	if _, err := toml.Decode(string(part), &m); err != nil {
		return partResult{}
	}
	var r partResult
	for k, v := range m {
		tables, isTables := v.([]map[string]any)
		if !isTables {
			return partResult{}
		}
		switch k {
		case "device":
			for _, t := range tables {
				c, ok := readDevice(t, platforms)
				if !ok {
					return partResult{}
				}
				r.devices = append(r.devices, c)
			}
		case "group":
			for _, t := range tables {
				g, ok := readGroup(t)
				if !ok {
					return partResult{}
				}
				r.groups = append(r.groups, g)
			}
		default:
			return partResult{}
		}
	}
	r.ok = true
	return r
}

// readDevice is the fast path's [[device]]: the same rules as
// loader.devices, for valid tables only.
func readDevice(t map[string]any, platforms map[string]*platform) (compactDevice, bool) {
	var c compactDevice
	for k, v := range t {
		switch k {
		case "mac":
			s, ok := v.(string)
			if !ok {
				return c, false
			}
			mac, err := rollout.ParseMAC(s)
			if err != nil {
				return c, false
			}
			c.d.MAC = mac
		case "platform":
			s, ok := v.(string)
			if !ok {
				return c, false
			}
			name := strings.ToLower(s)
			if _, known := platforms[name]; !known {
				return c, false
			}
			c.d.Platform = name
		case "name":
			s, ok := v.(string)
			if !ok {
				return c, false
			}
			c.d.Name = s
		case "channel":
			s, ok := v.(string)
			if !ok {
				return c, false
			}
			ch, err := rollout.ParseChannel(s)
			if err != nil {
				return c, false
			}
			c.d.Channel, c.channelSet = ch, true
		case "groups":
			gs, ok := groupList(v)
			if !ok {
				return c, false
			}
			c.d.Groups = gs
		case "pin":
			v, ok := releaseVersion(v)
			if !ok {
				return c, false
			}
			c.d.Pin = v
		default:
			return c, false
		}
	}
	if _, ok := t["mac"]; !ok {
		return c, false
	}
	if _, ok := t["platform"]; !ok {
		return c, false
	}
	return c, true
}

// readGroup is the fast path's [[group]].
func readGroup(t map[string]any) (*rollout.Group, bool) {
	g := &rollout.Group{}
	for k, v := range t {
		switch k {
		case "name":
			s, ok := v.(string)
			if !ok || !groupName.MatchString(s) {
				return nil, false
			}
			g.Name = s
		case "pin":
			v, ok := releaseVersion(v)
			if !ok {
				return nil, false
			}
			g.Pin = v
		case "channel":
			s, ok := v.(string)
			if !ok {
				return nil, false
			}
			ch, err := rollout.ParseChannel(s)
			if err != nil {
				return nil, false
			}
			g.Channel = &ch
		default:
			return nil, false
		}
	}
	return g, g.Name != ""
}

// groupList reads groups = [...] as the ordinary path would accept it
// without a problem: valid names, none twice.
func groupList(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok || !groupName.MatchString(s) || slices.Contains(out, s) {
			return nil, false
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, true // as groups() returns for an empty list
	}
	return out, true
}

func releaseVersion(v any) (*semver.Version, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	ver, err := rollout.ParseReleaseVersion(s)
	return ver, err == nil
}
