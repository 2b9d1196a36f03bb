package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func query(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT 1+1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDB(t *testing.T) {
	a, b := DB(t), DB(t)
	if a == b {
		t.Fatalf("two databases with one DSN %s", a)
	}
	if query(t, a) != 2 || query(t, b) != 2 {
		t.Fatal("1+1 != 2")
	}
}

func TestRestart(t *testing.T) {
	s := New(t)
	dsn := s.NewDB(t)
	query(t, dsn)
	s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if query(t, dsn) != 2 {
		t.Fatal("1+1 != 2 after a restart")
	}
}
