package config

import (
	"runtime"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/otagit/otagit/rollout"
)

// splitMinForTests, when set, raises splitMin: tests compare the fast
// path with the ordinary one on the same files.
var splitMinForTests int

// partSize is the size of the parts a big whitelist is parsed in: small
// enough that only a few parse trees of that size are alive at once.
const partSize = 256 << 10

// partResult is what the fast path read from one part of a whitelist.
type partResult struct {
	devices []deviceEntry
	groups  []*rollout.Group
	ok      bool
}

// fastWhitelist reads a big whitelist that is valid, fast: in parts on
// all cores, each part's parse tree turned at once into device and group
// entries and dropped, so that no tree of the whole file is ever alive (a
// whitelist of 100,000 devices is ~8 MB of TOML and ~250 MB of trees).
// Each table is read by readDevice or readGroup, the ordinary reader's own
// functions, with problems only noted: it returns ok false for a file it
// does not take: small, not safely splittable (see splitAtHeaders), or
// with any problem at all, even a warning, or a duplicate. The caller then
// loads the file the ordinary way, which reports every problem with file,
// line and key; so for a file this accepts, both ways give the same
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
		for _, e := range r.devices {
			if _, dup := seen[e.d.MAC]; dup || local[e.d.MAC] {
				return nil, nil, false
			}
			local[e.d.MAC] = true
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
		for _, e := range r.devices {
			// The table becomes a locator for problems found later
			// (pins): the path and the file's source, no parse tree.
			*e.t = table{f: f, parent: "device", index: len(devices)}
			devices = append(devices, e)
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
	// Problems are only noted: any problem sends the file to the
	// ordinary reader.
	f := &tomlFile{silent: true}
	var r partResult
	for k, v := range m {
		tables, isTables := v.([]map[string]any)
		if !isTables {
			return partResult{}
		}
		switch k {
		case "device":
			r.devices = make([]deviceEntry, 0, len(tables))
			// One allocation for all the part's tables and the keys
			// they note as read, instead of a few per device.
			slab := make([]table, len(tables))
			used := make([]string, len(tables)*len(deviceKeys))
			for i, t := range tables {
				u := used[i*len(deviceKeys) : i*len(deviceKeys) : (i+1)*len(deviceKeys)]
				slab[i] = table{f: f, m: t, used: u}
				e, ok := readDevice(&slab[i], platforms)
				if !ok || f.failed {
					return partResult{}
				}
				r.devices = append(r.devices, e)
			}
		case "group":
			for _, t := range tables {
				g := readGroup(&table{f: f, m: t})
				if g == nil || f.failed {
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
