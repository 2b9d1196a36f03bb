package checkin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otagit/otagit/rollout"
)

// Postgres is a Store in a PostgreSQL database, shared by every replica
// of a server. Records are kept in the encodings a Bolt file holds
// (codec.go); the schema is in migrations/, applied by OpenPostgres.
//
// Every call runs under a timeout (PostgresOptions.Timeout) on top of its
// context, so that a database that stops answering fails calls instead of
// holding them; the pool reconnects by itself once it answers again. A
// Postgres made by NewPostgres brings the schema up to date at its first
// call that reaches the database, so that a server starts while the
// database is down.
type Postgres struct {
	pool    *pgxpool.Pool
	keep    int
	timeout time.Duration
	log     *slog.Logger
	closed  atomic.Bool

	// schema is a token: its holder migrates. migrated is set once the
	// schema is up to date.
	schema   chan struct{}
	migrated atomic.Bool

	health health
}

var (
	_ Store         = (*Postgres)(nil)
	_ AdoptionStore = (*Postgres)(nil)
)

// PostgresOptions configure OpenPostgres.
type PostgresOptions struct {
	// DSN is the database's address, a postgres:// URL or key=value
	// string, without a password (OpenPostgres refuses one: a password on
	// a command line is visible to every user of the machine). Required.
	DSN string
	// Password is the password, "" for none or to use $PGPASSWORD or
	// ~/.pgpass, which the driver reads.
	Password string
	// KeepPerDevice is how many check-ins are kept per device. Default
	// DefaultKeepPerDevice.
	KeepPerDevice int
	// Timeout bounds every call to the database. Default 10s.
	Timeout time.Duration
	// MaxConns bounds the pool's connections. Default 8.
	MaxConns int32
	// Logger receives migration events. Default slog.Default().
	Logger *slog.Logger
}

// ErrPasswordInDSN is returned by OpenPostgres for a DSN that holds a
// password.
var ErrPasswordInDSN = errors.New("the database address holds a password: pass it in a file (--store-password-file) or $PGPASSWORD instead")

// ParsePostgresConfig parses opts' DSN into a pool configuration, refusing
// a DSN with a password, and sets the password, timeouts and pool size.
// It is the one place a DSN is read, for OpenPostgres and for listeners.
func ParsePostgresConfig(opts PostgresOptions) (*pgxpool.Config, error) {
	if dsnHasPassword(opts.DSN) {
		return nil, ErrPasswordInDSN
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx's message may quote the DSN; it holds no password here.
		return nil, fmt.Errorf("checkin: database address: %w", err)
	}
	if opts.Password != "" {
		cfg.ConnConfig.Password = opts.Password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "otagit"
	cfg.MaxConns = 8
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	return cfg, nil
}

// dsnHasPassword reports whether a URL or key=value DSN names a password.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return false // the parser refuses it
		}
		if _, ok := u.User.Password(); ok {
			return true
		}
		return u.Query().Has("password")
	}
	for _, f := range strings.Fields(dsn) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "password" {
			return true
		}
	}
	return false
}

// OpenPostgres connects to the database and brings its schema up to date,
// failing if it cannot.
func OpenPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	s, err := NewPostgres(opts)
	if err != nil {
		return nil, err
	}
	if err := s.ready(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewPostgres makes the store without reaching the database: only a DSN
// that cannot be read fails. The pool connects when a call needs it, and
// the first call that reaches the database brings its schema up to date;
// calls fail until then, as when the database goes down later.
func NewPostgres(opts PostgresOptions) (*Postgres, error) {
	cfg, err := ParsePostgresConfig(opts)
	if err != nil {
		return nil, err
	}
	if opts.KeepPerDevice <= 0 {
		opts.KeepPerDevice = DefaultKeepPerDevice
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// No connection is made here: pgxpool connects on demand.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("checkin: database pool: %w", err)
	}
	s := &Postgres{pool: pool, keep: opts.KeepPerDevice, timeout: opts.Timeout, log: opts.Logger.With("component", "checkin"),
		schema: make(chan struct{}, 1)}
	s.health.init(s.log)
	return s, nil
}

// ready brings the schema up to date once: every call waits for it, and
// after a failure the next call tries again. One attempt is bounded by a
// minute (a migration may rewrite a table) on top of ctx.
func (s *Postgres) ready(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	select {
	case s.schema <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.schema }()
	if s.migrated.Load() {
		return nil
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.observe(migrate(mctx, s.pool, s.log)); err != nil {
		return err
	}
	s.migrated.Store(true)
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock migrations run under, so that two
// replicas starting at once apply each migration once.
const migrationLock = 0x6f74616769740001 // "otagit" 1

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name does not start with a number", base)
		}
		b, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, base, string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrate applies the migrations the database does not have yet, in one
// transaction under an advisory lock: a replica that starts while another
// migrates waits, then finds nothing left to do. A database migrated by a
// newer version is refused rather than misread.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("checkin: migrations: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("checkin: lock for migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("checkin: migrations table: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
			return fmt.Errorf("checkin: read schema version: %w", err)
		}
		if latest := ms[len(ms)-1].version; have > latest {
			return fmt.Errorf("checkin: %w (%d, this version knows up to %d)", ErrSchemaNewer, have, latest)
		}
		for _, m := range ms {
			if m.version <= have {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("checkin: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("checkin: record migration %s: %w", m.name, err)
			}
			log.Info("database migrated", "migration", m.name)
		}
		return nil
	})
}

// Pool is the store's connection pool, for parts that share the database
// (the halt listener).
func (s *Postgres) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool. Calls after the first return nil.
func (s *Postgres) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// begin checks ctx and Close, brings the schema up to date if it is not
// yet, and bounds ctx by the store's timeout.
func (s *Postgres) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	if err := s.ready(ctx); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return ctx, cancel, nil
}

// pgErr wraps a call's error with what failed, and records in the store's
// health whether the database answered.
func (s *Postgres) pgErr(what string, err error) error {
	if err == nil {
		s.health.up()
		return nil
	}
	return s.observe(fmt.Errorf("checkin: %s: %w", what, err))
}

// observe records in the store's health what err, a call's result, says
// of the database, and returns err.
func (s *Postgres) observe(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil, errors.As(err, &pe), errors.Is(err, ErrCorrupt), errors.Is(err, ErrSchemaNewer):
		s.health.up() // it answered
	case errors.Is(err, context.Canceled):
		// The caller gave up: that says nothing of the database.
	default:
		s.health.down(err)
	}
	return err
}

// Health implements HealthReporter: whether the last call reached the
// database.
func (s *Postgres) Health() Health { return s.health.get() }

// ErrSchemaNewer is returned when the database was migrated by a newer
// version of otagit than this one.
var ErrSchemaNewer = errors.New("the database's schema is newer than this version understands")

// atNanos is timeKey as a signed number, which sorts as timeKey does.
func atNanos(tkey uint64) int64 { return int64(tkey ^ 1<<63) }

// Save implements Store: check-ins by COPY, summaries by one upsert, and
// the pruning of the devices that got check-ins by one DELETE, in one
// transaction.
func (s *Postgres) Save(ctx context.Context, checkins []CheckIn, devices []Device) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	b := encodeBatch(checkins, devices)
	return s.pgErr("save", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.saveTx(ctx, tx, b)
	}))
}

func (s *Postgres) saveTx(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.checkins) > 0 {
		rows := make([][]any, len(b.checkins))
		for i, c := range b.checkins {
			rows[i] = []any{c.mac[:], atNanos(c.tkey), c.value}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"checkins"}, []string{"mac", "at_ns", "value"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		macs := make([][]byte, len(b.added))
		for i, a := range b.added {
			macs[i] = a.mac[:]
		}
		if _, err := tx.Exec(ctx, `DELETE FROM checkins c USING (
				SELECT mac, at_ns, seq FROM (
					SELECT mac, at_ns, seq, row_number() OVER (PARTITION BY mac ORDER BY at_ns DESC, seq DESC) AS n
					FROM checkins WHERE mac = ANY($1)) r
				WHERE n > $2) old
			WHERE c.mac = old.mac AND c.at_ns = old.at_ns AND c.seq = old.seq`, macs, s.keep); err != nil {
			return err
		}
	}
	if len(b.devices) > 0 {
		// One row per MAC, the last one given: an upsert cannot touch a
		// row twice.
		last := make(map[rollout.MAC]int, len(b.devices))
		for i, d := range b.devices {
			last[d.mac] = i
		}
		macs := make([][]byte, 0, len(last))
		values := make([][]byte, 0, len(last))
		for i, d := range b.devices {
			if last[d.mac] == i {
				macs = append(macs, d.mac[:])
				values = append(values, d.value)
			}
		}
		// The lock makes revs commit in the order they are drawn, so that
		// DevicesSince never passes over a save still in flight.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", deviceRevLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO devices (mac, value, rev)
			SELECT m, v, nextval('device_rev') FROM unnest($1::bytea[], $2::bytea[]) AS u(m, v)
			ON CONFLICT (mac) DO UPDATE SET value = excluded.value, rev = excluded.rev`, macs, values); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", DeviceChannel); err != nil {
			return err
		}
	}
	return nil
}

// LoadDevices implements Store.
func (s *Postgres) LoadDevices(ctx context.Context) ([]Device, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT value FROM devices ORDER BY mac")
	if err != nil {
		return nil, s.pgErr("load devices", err)
	}
	var out []Device
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&v}, func() error {
		d, err := decodeDevice(v)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, s.pgErr("load devices", err)
}

// History implements Store.
func (s *Postgres) History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, "SELECT value FROM checkins WHERE mac = $1 ORDER BY at_ns DESC, seq DESC LIMIT $2", mac[:], lim)
	if err != nil {
		return nil, s.pgErr("history", err)
	}
	var out []CheckIn
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&v}, func() error {
		c, err := decodeCheckIn(v)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, s.pgErr("history", err)
}

// HaltChannel is the channel every change to halts is notified on, with
// the platform and version as payload.
const HaltChannel = "otagit_halts"

// PutHalt implements Store. It notifies HaltChannel in the same
// transaction, so that the other replicas read it once it is committed.
func (s *Postgres) PutHalt(ctx context.Context, h Halt) error {
	if err := validateHalt(&h); err != nil {
		return err
	}
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	v := appendHalt(nil, &h)
	return s.pgErr("save halt", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO halts (platform, version, value) VALUES ($1, $2, $3)
			ON CONFLICT (platform, version) DO UPDATE SET value = excluded.value`, h.Platform, h.Version, v); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", HaltChannel, haltPayload(h.Platform, h.Version))
		return err
	}))
}

// haltPayload fits NOTIFY's 8000-byte payload: validateHalt bounds the
// key to far less.
func haltPayload(platform, version string) string { return platform + " " + version }

// DeleteHalt implements Store, notifying HaltChannel as PutHalt does.
func (s *Postgres) DeleteHalt(ctx context.Context, platform, version string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return s.pgErr("delete halt", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM halts WHERE platform = $1 AND version = $2", platform, version)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", HaltChannel, haltPayload(platform, version))
		return err
	}))
}

// Halts implements Store.
func (s *Postgres) Halts(ctx context.Context) ([]Halt, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	// COLLATE "C": byte order, as the other stores sort.
	rows, err := s.pool.Query(ctx, `SELECT value FROM halts ORDER BY platform COLLATE "C", version COLLATE "C"`)
	if err != nil {
		return nil, s.pgErr("load halts", err)
	}
	var out []Halt
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&v}, func() error {
		h, err := decodeHalt(v)
		if err != nil {
			return err
		}
		out = append(out, h)
		return nil
	})
	return out, s.pgErr("load halts", err)
}

// SaveAdoption implements AdoptionStore.
func (s *Postgres) SaveAdoption(ctx context.Context, platform string, samples []AdoptionSample) error {
	v, err := encodeAdoption(platform, samples)
	if err != nil {
		return err
	}
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `INSERT INTO adoption (platform, value) VALUES ($1, $2)
		ON CONFLICT (platform) DO UPDATE SET value = excluded.value`, platform, v)
	return s.pgErr("save adoption series", err)
}

// LoadAdoption implements AdoptionStore.
func (s *Postgres) LoadAdoption(ctx context.Context) (map[string][]AdoptionSample, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT platform, value FROM adoption")
	if err != nil {
		return nil, s.pgErr("load adoption series", err)
	}
	out := map[string][]AdoptionSample{}
	var p string
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&p, &v}, func() error {
		samples, err := decodeAdoption([]byte(p), v)
		if err != nil {
			return err
		}
		out[p] = samples
		return nil
	})
	return out, s.pgErr("load adoption series", err)
}

// DeviceChannel is the channel every save of device summaries is
// notified on, so that other replicas read them (DevicesSince).
const DeviceChannel = "otagit_devices"

// deviceRevLock is the advisory lock key that orders saves of summaries.
const deviceRevLock = 0x6f7461676974 // "otagit"

// DeviceRev implements DeviceSharer.
func (s *Postgres) DeviceRev(ctx context.Context) (int64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	var rev int64
	err = s.pool.QueryRow(ctx, "SELECT coalesce(max(rev), 0) FROM devices").Scan(&rev)
	return rev, s.pgErr("device rev", err)
}

// DevicesSince implements DeviceSharer.
func (s *Postgres) DevicesSince(ctx context.Context, rev int64, limit int) ([]Device, int64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, rev, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT value, rev FROM devices WHERE rev > $1 ORDER BY rev LIMIT $2", rev, limit)
	if err != nil {
		return nil, rev, s.pgErr("devices since", err)
	}
	var out []Device
	var v []byte
	var r int64
	last := rev
	_, err = pgx.ForEachRow(rows, []any{&v, &r}, func() error {
		d, err := decodeDevice(v)
		if err != nil {
			return err
		}
		out = append(out, d)
		last = r
		return nil
	})
	if err != nil {
		return nil, rev, s.pgErr("devices since", err)
	}
	return out, last, nil
}

// WatchDevices implements DeviceSharer, as WatchHalts does for DeviceChannel.
func (s *Postgres) WatchDevices(ctx context.Context, changed func()) error {
	return s.watch(ctx, DeviceChannel, changed)
}

// WatchHalts implements HaltWatcher: it LISTENs on HaltChannel on a
// connection of its own and calls changed for every notification, and
// once each time it (re)connects, since notifications sent while it was
// away are lost. It reconnects by itself, backing off up to 5s, until ctx
// is done; then it returns nil.
func (s *Postgres) WatchHalts(ctx context.Context, changed func()) error {
	return s.watch(ctx, HaltChannel, changed)
}

func (s *Postgres) watch(ctx context.Context, channel string, changed func()) error {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, channel, changed, func() { backoff = 200 * time.Millisecond })
		if ctx.Err() != nil {
			break
		}
		// Losing the database is logged once, by its health; a server
		// that answers but refuses LISTEN is worth a line every time.
		var pe *pgconn.PgError
		if errors.As(s.observe(err), &pe) {
			s.log.Warn("notifications: LISTEN refused, retrying", "channel", channel, "err", err, "in", backoff)
		} else {
			s.log.Debug("notifications: connection lost, reconnecting", "channel", channel, "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// listen runs one LISTEN connection until it fails or ctx is done.
func (s *Postgres) listen(ctx context.Context, channel string, changed, connected func()) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+channel)
	}
	cancel()
	if conn != nil {
		defer func() {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			conn.Close(c)
		}()
	}
	if err != nil {
		return err
	}
	s.health.up()
	connected()
	changed()
	for {
		// A dead server is noticed by the pool's health checks, not here:
		// wake up now and then to see that the connection still answers.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			changed()
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, s.timeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// health is whether a store's last call reached its database, logging
// each change once: an outage is one line when it starts and one when it
// ends, however many calls fail in between.
type health struct {
	log  *slog.Logger
	isUp atomic.Bool // the fast path: most calls find it unchanged
	mu   sync.Mutex  // guards the rest, and changes of isUp
	// since is when isUp last changed (or the store was made); err is
	// the last failure while down.
	since time.Time
	err   string
	ever  bool // reached once
	said  bool // the outage in progress was logged
}

func (h *health) init(log *slog.Logger) {
	h.log, h.since, h.err = log, time.Now(), "not connected yet"
}

func (h *health) up() {
	if h.isUp.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isUp.Load() {
		return
	}
	now := time.Now()
	switch {
	case h.ever:
		h.log.Info("database reachable again", "down_for", now.Sub(h.since).Round(time.Millisecond))
	case h.said:
		h.log.Info("database connected", "after", now.Sub(h.since).Round(time.Millisecond))
	}
	h.isUp.Store(true)
	h.since, h.err, h.ever, h.said = now, "", true, false
}

func (h *health) down(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err.Error()
	if h.isUp.Load() {
		h.isUp.Store(false)
		h.since = time.Now()
	}
	if !h.said {
		h.said = true
		h.log.Warn("database unreachable: devices are served from the snapshot, check-ins queue; retrying", "err", err)
	}
}

func (h *health) get() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Health{Reachable: h.isUp.Load(), Since: h.since, LastError: h.err}
}
