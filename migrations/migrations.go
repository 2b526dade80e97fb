// Package migrations holds the database schema: goose SQL files, plus a Go
// migration that applies River's own schema in the same run.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed *.sql
var sqlFiles embed.FS

// riverMigration applies River's schema (its own versioned migrations) as
// goose version 2, so SQL files skip that number. River runs each of its
// versions in a transaction of its own (one adds an enum value a later
// statement uses), so this step runs outside goose's transaction. A later
// River upgrade adds another Go migration that calls riverMigrate again.
func riverMigration(version int64) *goose.Migration {
	return goose.NewGoMigration(version,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return riverMigrate(ctx, db, rivermigrate.DirectionUp) }},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return riverMigrate(ctx, db, rivermigrate.DirectionDown) }},
	)
}

func riverMigrate(ctx context.Context, db *sql.DB, dir rivermigrate.Direction) error {
	m, err := rivermigrate.New(riverdatabasesql.New(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	opts := &rivermigrate.MigrateOpts{}
	if dir == rivermigrate.DirectionDown {
		opts.TargetVersion = -1 // remove River entirely
	}
	_, err = m.Migrate(ctx, dir, opts)
	return err
}

// Up applies every pending migration, ours and River's.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	// web and worker processes may start together; the lock serializes them.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sqlFiles,
		goose.WithGoMigrations(riverMigration(2)),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(locker),
		// 00007 landed after 00008 had: a database that applied 8 first
		// still gets 7.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "took", r.Duration)
	}
	return nil
}
