package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/m-store/mstore/internal/config"
	"github.com/m-store/mstore/internal/dbdump"
	"github.com/m-store/mstore/internal/msdb"
)

// ListTables is msdb_dump -l: the table names, one a line.
func ListTables(ctx context.Context, cfg *config.Config, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		ListTablesEnv(env, tio)
		return nil
	})
}

// ListTablesEnv lists the tables of an open environment.
func ListTablesEnv(env *msdb.Env, tio IO) {
	for _, n := range env.TableNames() {
		fmt.Fprintln(tio.Out, n)
	}
}

// Dump is msdb_dump TABLE: the table in db_dump -p format, from one
// consistent snapshot.
func Dump(ctx context.Context, cfg *config.Config, table string, tio IO) error {
	return withEnv(ctx, cfg, OpenOptions{MustExist: true}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		return DumpEnv(ctx, env, table, tio)
	})
}

// DumpEnv dumps a table of an open environment.
func DumpEnv(ctx context.Context, env *msdb.Env, table string, tio IO) error {
	if !env.HasTable(table) {
		return fmt.Errorf("no table %q (msdb_dump -l lists them)", table)
	}
	bw := bufio.NewWriterSize(tio.Out, 1<<16)
	w, err := dbdump.NewWriter(bw)
	if err != nil {
		return err
	}
	err = env.View(ctx, func(tx *msdb.Tx) error {
		t, err := tx.Table(table)
		if err != nil {
			return err
		}
		n := 0
		return t.ForEach(nil, func(k, v []byte) (bool, error) {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, w.Write(k, v)
		})
	})
	if err != nil {
		return fmt.Errorf("dump table %s: %w", table, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("dump table %s: %w", table, err)
	}
	return bw.Flush()
}

type kv struct{ k, v []byte }

// Load is msdb_load TABLE: db_dump format on in, into the table (created
// when absent), committing every `every` records as one transaction. A
// malformed line fails the load naming its line; the transactions committed
// before it stay, the one it was in is not committed.
func Load(ctx context.Context, cfg *config.Config, table string, every int, in io.Reader, tio IO) error {
	if err := msdb.ValidTableName(table); err != nil {
		return err
	}
	return withEnv(ctx, cfg, OpenOptions{}, func(env *msdb.Env) error {
		reportRecovery(tio, env.Recovery(), false)
		r, err := dbdump.NewReader(bufio.NewReaderSize(in, 1<<16))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		if err := env.EnsureTable(ctx, table, msdb.TableOptions{}); err != nil {
			return err
		}
		batch := make([]kv, 0, every)
		var loaded, txns int
		commit := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := env.Update(ctx, func(tx *msdb.Tx) error {
				t, err := tx.Table(table)
				if err != nil {
					return err
				}
				for _, e := range batch {
					if err := t.Put(e.k, e.v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("load into %s after %d records: %w", table, loaded, err)
			}
			loaded += len(batch)
			txns++
			batch = batch[:0]
			return nil
		}
		for {
			k, v, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("standard input: %w (%d records loaded in %d transactions before it; the %d records read since were not)", err, loaded, txns, len(batch))
			}
			batch = append(batch, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			if len(batch) >= every {
				if err := commit(); err != nil {
					return err
				}
			}
		}
		if err := commit(); err != nil {
			return err
		}
		fmt.Fprintf(tio.Err, "msdb_load: loaded %d records into %s in %d transactions\n", loaded, table, txns)
		return nil
	})
}
