package checkin

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otagit/otagit/rollout"
)

// discardStore saves nothing, so that benchmarks of the Writer measure the
// Writer.
type discardStore struct{ Memory }

func (*discardStore) Save(context.Context, []CheckIn, []Device) error { return nil }

// queueUnderTest is a design of the Writer's queue: Add, a consumer that
// runs until stopped, and a synchronous emptying for benchmarks that
// measure only accepted Adds.
type queueUnderTest interface {
	add(CheckIn, Device) bool
	consume(stop <-chan struct{})
	empty()
}

// writerQueue is the Writer itself, saving to a store that discards.
type writerQueue struct{ w *Writer }

func newWriterQueue() writerQueue {
	return writerQueue{NewWriter(&discardStore{}, WriterOptions{Logger: quietLog})}
}

func (q writerQueue) add(c CheckIn, d Device) bool { return q.w.Add(c, d) }

func (q writerQueue) consume(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	q.w.Run(ctx)
}

func (q writerQueue) empty() {
	for more := true; more; {
		more, _ = q.w.flush(context.Background(), true, false)
	}
}

// chanQueue is the design the Writer did not take, kept to measure against
// it: a buffered channel of records, drained by one goroutine in batches,
// with a read-write lock so that closing can wait for Adds in flight (a
// send on a closed channel panics, and an Add that returned true after the
// last drain would be lost).
type chanQueue struct {
	mu      sync.RWMutex
	closed  bool
	ch      chan queued
	dropped atomic.Uint64
}

type queued struct {
	c CheckIn
	d Device
}

func newChanQueue() *chanQueue { return &chanQueue{ch: make(chan queued, 65536)} }

func (q *chanQueue) add(c CheckIn, d Device) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return false
	}
	select {
	case q.ch <- queued{c, d}:
		return true
	default:
		q.dropped.Add(1)
		return false
	}
}

func (q *chanQueue) consume(stop <-chan struct{}) {
	batch := make([]queued, 0, 1024)
	for {
		select {
		case v := <-q.ch:
			batch = append(batch, v)
		case <-stop:
			return
		}
		for len(batch) < cap(batch) {
			select {
			case v := <-q.ch:
				batch = append(batch, v)
				continue
			default:
			}
			break
		}
		clear(batch)
		batch = batch[:0]
	}
}

func (q *chanQueue) empty() {
	for len(q.ch) > 0 {
		<-q.ch
	}
}

// benchQueue measures a queue design three ways:
//
//   - accepted: one goroutine, every Add accepted (the queue is emptied,
//     off the clock, after every 1024, as Run does when it keeps up): what
//     a request pays normally;
//   - full: every Add refused: what a request pays when the store cannot
//     keep up;
//   - parallel: GOMAXPROCS goroutines adding as fast as they can while the
//     consumer drains; drops/op says how much the consumer could not take.
func benchQueue(b *testing.B, newQueue func() queueUnderTest) {
	c := sampleCheckIn(testMAC(1), 0)
	d := sampleDevice(c.MAC, "1.0.0")
	b.Run("accepted", func(b *testing.B) {
		q := newQueue()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			c.MAC[5] = byte(n)
			if !q.add(c, d) {
				b.Fatal("Add refused")
			}
			if n++; n%1024 == 0 {
				// What Run does when a batch is full.
				b.StopTimer()
				q.empty()
				b.StartTimer()
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		q := newQueue()
		for q.add(c, d) {
		}
		b.ReportAllocs()
		for b.Loop() {
			if q.add(c, d) {
				b.Fatal("Add accepted on a full queue")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		q := newQueue()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { q.consume(stop) })
		var next atomic.Uint32
		var dropped atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c, d := c, d
			c.MAC[3] = byte(next.Add(1))
			d.MAC = c.MAC
			for i := 0; pb.Next(); i++ {
				c.MAC[5], d.MAC[5] = byte(i), byte(i)
				if !q.add(c, d) {
					dropped.Add(1)
				}
			}
		})
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(dropped.Load())/float64(b.N), "drops/op")
	})
}

// BenchmarkWriterAdd is the cost a device request pays to record its
// check-in.
func BenchmarkWriterAdd(b *testing.B) {
	benchQueue(b, func() queueUnderTest { return newWriterQueue() })
}

// BenchmarkWriterAddJournal is BenchmarkWriterAdd with the journal that
// makes an acknowledged check-in survive kill -9: the cost of encoding
// the record and copying it into the mapped ring.
func BenchmarkWriterAddJournal(b *testing.B) {
	benchQueue(b, func() queueUnderTest {
		j, err := OpenJournal(filepath.Join(b.TempDir(), "checkins.journal"), JournalOptions{Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { j.Close() })
		if err := j.Replay(context.Background(), NewMemory()); err != nil {
			b.Fatal(err)
		}
		return writerQueue{NewWriter(&discardStore{}, WriterOptions{Logger: quietLog, Journal: j})}
	})
}

// BenchmarkWriterQueue compares the Writer's queue (chunks under a mutex)
// with a buffered channel.
func BenchmarkWriterQueue(b *testing.B) {
	b.Run("chunks", BenchmarkWriterAdd)
	b.Run("channel", func(b *testing.B) {
		benchQueue(b, func() queueUnderTest { return newChanQueue() })
	})
}

// fillBolt opens a Bolt in a temporary directory holding keep check-ins
// and a summary for each of macs devices, as after a while in production.
func fillBolt(b *testing.B, macs, keep int) (*Bolt, []rollout.MAC) {
	s := openTestBolt(b, filepath.Join(b.TempDir(), "checkins.db"), keep)
	all := make([]rollout.MAC, macs)
	for m := range all {
		all[m] = testMAC(m)
	}
	for i := range keep {
		if err := s.Save(context.Background(), benchBatch(all, i), benchDevices(all, i)); err != nil {
			b.Fatal(err)
		}
	}
	return s, all
}

func benchBatch(macs []rollout.MAC, i int) []CheckIn {
	out := make([]CheckIn, len(macs))
	for m, mac := range macs {
		out[m] = sampleCheckIn(mac, i)
		out[m].Reason = "running 1.0.0; newest release is 1.1.0"
	}
	return out
}

func benchDevices(macs []rollout.MAC, i int) []Device {
	out := make([]Device, len(macs))
	for m, mac := range macs {
		out[m] = sampleDevice(mac, "1.0.0")
		out[m].LastSeen = t0.Add(time.Duration(i) * time.Minute)
	}
	return out
}

// BenchmarkBoltSave saves a full batch, 1024 check-ins and summaries of
// 1024 devices, into a file where every device already has KeepPerDevice
// check-ins, so every Save also prunes 1024. Each Save is one fsync'ed
// transaction.
func BenchmarkBoltSave(b *testing.B) {
	const macs = 1024
	s, all := fillBolt(b, macs, DefaultKeepPerDevice)
	ctx := context.Background()
	i := DefaultKeepPerDevice
	batches := make([][]CheckIn, 8)
	for j := range batches {
		batches[j] = benchBatch(all, 0)
	}
	devices := benchDevices(all, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cs := batches[i%len(batches)]
		at := t0.Add(time.Duration(i) * time.Minute)
		for j := range cs {
			cs[j].At = at
		}
		if err := s.Save(ctx, cs, devices); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*macs), "ns/checkin")
}

// BenchmarkHistory reads one device's history from a store holding 1024
// devices with KeepPerDevice check-ins each.
func BenchmarkHistory(b *testing.B) {
	bolt, all := fillBolt(b, 1024, DefaultKeepPerDevice)
	mem := NewMemory()
	for i := range DefaultKeepPerDevice {
		if err := mem.Save(context.Background(), benchBatch(all, i), nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range []struct {
		name  string
		store Store
	}{{"bolt", bolt}, {"memory", mem}} {
		for _, limit := range []int{1, 20, 0} {
			b.Run(s.name+"/limit="+map[int]string{1: "1", 20: "20", 0: "all"}[limit], func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					h, err := s.store.History(context.Background(), all[i%len(all)], limit)
					if err != nil || len(h) == 0 {
						b.Fatal(len(h), err)
					}
					i += 7
				}
			})
		}
	}
}

// BenchmarkCodec compares the record encoding with encoding/json for a
// typical check-in and device summary; bytes/record is the size stored.
func BenchmarkCodec(b *testing.B) {
	c := sampleCheckIn(testMAC(1), 1)
	c.Reason = "running 1.0.0; newest release is 1.1.0"
	d := sampleDevice(testMAC(1), "1.0.0")
	type codec struct {
		name   string
		encode func([]byte) []byte
		decode func([]byte) error
	}
	jsonEncode := func(v any) func([]byte) []byte {
		return func([]byte) []byte { out, _ := json.Marshal(v); return out }
	}
	codecs := []codec{
		{"checkin/binary", func(buf []byte) []byte { return appendCheckIn(buf[:0], &c) }, func(in []byte) error { _, err := decodeCheckIn(in); return err }},
		{"checkin/json", jsonEncode(&c), func(in []byte) error { var v CheckIn; return json.Unmarshal(in, &v) }},
		{"device/binary", func(buf []byte) []byte { return appendDevice(buf[:0], &d) }, func(in []byte) error { _, err := decodeDevice(in); return err }},
		{"device/json", jsonEncode(&d), func(in []byte) error { var v Device; return json.Unmarshal(in, &v) }},
	}
	for _, cd := range codecs {
		b.Run(cd.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			var n int
			for b.Loop() {
				n = len(cd.encode(buf))
			}
			b.ReportMetric(float64(n), "bytes/record")
		})
		b.Run(cd.name+"/decode", func(b *testing.B) {
			in := cd.encode(nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := cd.decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
