package config

import (
	"runtime"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/otagit/otagit/internal/tomlpos"
	"github.com/otagit/otagit/rollout"
)

// splitMinForTests, when set, turns the fast path off: tests compare it
// with the ordinary one on the same files.
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

// fastFile is a whitelist read by the fast path: its source and what
// each of its parts gave.
type fastFile struct {
	src     []byte
	results []partResult
	// shared is set when a WhitelistMemo keeps the results: they are
	// then read only, and fastWhitelist copies what it takes.
	shared bool
}

// devices returns how many devices ff's parts read (0 for nil).
func (ff *fastFile) devices() int {
	if ff == nil {
		return 0
	}
	n := 0
	for _, r := range ff.results {
		n += len(r.devices)
	}
	return n
}

// readFast reads every whitelist in files for the fast path: the files
// one after another (fsys need not be safe for concurrent use), their
// parts parsed on all cores as they come, each part's parse tree turned
// at once into device and group entries and dropped, so that only a few
// trees are ever alive (a whitelist of 100,000 devices is ~8 MB of TOML
// and ~250 MB of trees). A file too big to read, or not safely
// splittable (see splitAtHeaders), gets a nil entry; fastWhitelist then
// refuses it. A file the options' WhitelistMemo read before, with the same
// platform names, is taken from it, and the others are given to it. It
// only reads platforms.
func (l *loader) readFast(files []string, platforms map[string]*platform) []*fastFile {
	out := make([]*fastFile, len(files))
	if splitMinForTests > 0 {
		return out
	}
	memo := l.opts.Whitelists
	pk := ""
	if memo != nil {
		pk = platformKey(platforms)
	}
	var parsed []*fastFile
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, file := range files {
		src, err := readLimited(l.fsys, file, MaxTOMLSize)
		if err != nil {
			continue // the ordinary path reports it
		}
		// The memo only keeps files that passed the depth check below.
		if ff := memo.get(src, pk); ff != nil {
			out[i] = ff
			continue
		}
		if tomlpos.CheckDepth(src, tomlpos.MaxDepth) != 0 {
			continue
		}
		parts := [][]byte{src}
		if len(src) >= splitMin {
			parts = splitAtHeaders(src, "[[device]]", max(runtime.GOMAXPROCS(0), len(src)/partSize))
			if len(parts) < 2 {
				continue
			}
		}
		ff := &fastFile{src: src, results: make([]partResult, len(parts)), shared: memo != nil}
		out[i] = ff
		parsed = append(parsed, ff)
		for j, p := range parts {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ff.results[j] = readPart(p, platforms)
			})
		}
	}
	wg.Wait()
	for _, ff := range parsed {
		memo.put(ff, pk)
	}
	return out
}

// fastWhitelist takes the entries readFast read from file, when it read
// the file and the file is valid: it returns ok false for a file with any
// problem at all, even a warning, or a duplicate (of seen's MACs or
// groupDefs' names). Each table is read by readDevice or readGroup, the
// ordinary reader's own functions, with problems only noted; the caller
// loads a file refused here the ordinary way, which reports every problem
// with file, line and key; so for a file this accepts, both ways give the
// same entries. seen and groupDefs are only read, and so is ff: the
// tables that locate the entries' problems are made here, for this load,
// and when ff is shared its devices and groups are copies.
func (l *loader) fastWhitelist(file string, ff *fastFile, seen map[rollout.MAC]*table,
	groupDefs map[string]groupEntry) (devices []deviceEntry, groups []groupEntry, ok bool) {
	if ff == nil {
		return nil, nil, false
	}
	f := &tomlFile{name: file, src: ff.src, probs: &l.probs}
	local := make(map[rollout.MAC]bool, ff.devices())
	localGroups := map[string]bool{}
	n, ng := 0, 0
	for _, r := range ff.results {
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
	// Each entry gets a locator for problems found later (pins): the
	// path and the file's source, no parse tree; one allocation for all.
	locs := make([]table, n+ng)
	var copies []rollout.Device
	if ff.shared {
		// The load gives devices their groups' pin and channel, so a
		// load must not touch the memo's devices, nor another load's.
		copies = make([]rollout.Device, n)
	}
	for _, r := range ff.results {
		for _, e := range r.devices {
			k := len(devices)
			locs[k] = table{f: f, parent: "device", index: k}
			e.t = &locs[k]
			if copies != nil {
				copies[k] = *e.d
				e.d = &copies[k]
			}
			devices = append(devices, e)
		}
		for _, g := range r.groups {
			k := len(groups)
			locs[n+k] = table{f: f, parent: "group", index: k}
			if ff.shared {
				c := *g
				g = &c
			}
			groups = append(groups, groupEntry{g: g, t: &locs[n+k]})
		}
	}
	return devices, groups, true
}

// readPart parses one part of a whitelist and reads its tables, or says
// it cannot (ok false). It only reads platforms.
func readPart(part []byte, platforms map[string]*platform) partResult {
	m, plain := decodePlain(part)
	if !plain {
		if _, err := toml.Decode(string(part), &m); err != nil {
			return partResult{}
		}
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
				// The table holds the device's parse tree; fastWhitelist
				// gives the entry a locator instead, so that no tree
				// stays alive while the other parts are read.
				e.t = nil
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
