package checkin

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/otagit/otagit/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func openTestPostgres(t *testing.T, dsn string, keep int) *Postgres {
	t.Helper()
	s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: dsn, KeepPerDevice: keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	dsns := map[Store]string{}
	testStore(t, storeHarness{
		open: func(t *testing.T, keep int) Store {
			dsn := pgtest.DB(t)
			s := openTestPostgres(t, dsn, keep)
			dsns[s] = dsn
			return s
		},
		reopen: func(t *testing.T, s Store) Store {
			s.Close()
			n := openTestPostgres(t, dsns[s], s.(*Postgres).keep)
			dsns[n] = dsns[s]
			return n
		},
	})
}

func TestPostgresRefusesPasswordInDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://otagit:secret@db.example/otagit",
		"postgresql://otagit@db.example/otagit?password=secret",
		"host=db.example user=otagit password=secret",
	} {
		_, err := OpenPostgres(context.Background(), PostgresOptions{DSN: dsn})
		if !errors.Is(err, ErrPasswordInDSN) {
			t.Errorf("%s: got %v, want ErrPasswordInDSN", dsn, err)
		}
	}
	if dsnHasPassword("postgres://otagit@db.example/otagit?sslmode=require") {
		t.Error("a DSN without a password is said to hold one")
	}
}

// TestPostgresMigrateConcurrently opens one database from many stores at
// once, as replicas starting together do: each migration is applied once.
func TestPostgresMigrateConcurrently(t *testing.T) {
	dsn := pgtest.DB(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: dsn})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s := openTestPostgres(t, dsn, 0)
	var n, v int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	ms, _ := loadMigrations()
	if n != len(ms) || v != ms[len(ms)-1].version {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, v, len(ms), ms[len(ms)-1].version)
	}
}
