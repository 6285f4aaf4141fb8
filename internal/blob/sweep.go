package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SweepStats counts what a Sweep saw and did.
type SweepStats struct {
	Files        int   // message files examined
	Young        int   // kept: modified within the grace period
	Referenced   int   // kept: referenced
	Removed      int   // removed: unreferenced and older than the grace period
	RemovedBytes int64 // total size of the removed files
	Foreign      int   // entries that are not message files, left alone
}

// Sweep removes the message files that are not referenced and were last
// modified (stored or re-stored by Put) longer than grace ago. It calls
// referenced for each file older than grace; a file younger than grace is
// never removed, whatever referenced would say, and a file Put re-stores
// while referenced is being asked is kept (see the package comment). An
// error from referenced stops the sweep and is returned, wrapped. Sweep
// stops when ctx is done, returning ctx's error with the counts so far. It
// never removes anything that is not a regular file at a message file's
// path (Foreign counts those), nor any directory. Each removal is logged
// at debug level.
//
// Run Sweep only in the process that runs Put, or when none does: the
// check of a file's time and its removal exclude Put within one process
// only.
func (s *Store) Sweep(ctx context.Context, grace time.Duration, referenced func(ID) (bool, error)) (SweepStats, error) {
	var st SweepStats
	if grace < 0 {
		return st, fmt.Errorf("blob: negative sweep grace period %v", grace)
	}
	err := s.walk(ctx, func(id ID, dir string, fi fs.FileInfo) error {
		st.Files++
		if time.Since(fi.ModTime()) < grace {
			st.Young++
			return nil
		}
		ok, err := referenced(id)
		if err != nil {
			return fmt.Errorf("blob: sweep: asking whether %s is referenced: %w", filepath.Join(dir, string(id)), err)
		}
		if ok {
			st.Referenced++
			return nil
		}
		removed, size, err := s.removeIfOld(id, grace)
		if err != nil {
			return err
		}
		if !removed {
			st.Young++ // re-stored meanwhile
			return nil
		}
		st.Removed++
		st.RemovedBytes += size
		return nil
	}, func(path string) {
		st.Foreign++
		s.log.Debug("blob: sweep: leaving foreign entry alone", "path", path)
	})
	return st, err
}

// removeIfOld removes the file named id (where find finds it: at its path,
// or at its legacy path) if it is still a regular file last modified more
// than grace ago, under id's lock so that no Put refreshes it
// between the check and the removal.
func (s *Store) removeIfOld(id ID, grace time.Duration) (removed bool, size int64, err error) {
	unlock := s.locks.lock(id)
	defer unlock()
	p, fi, err := s.find(id)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("blob: sweep: stat %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < grace {
		return false, 0, nil
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("blob: sweep: removing %s: %w", p, err)
	}
	s.log.Debug("blob: sweep: removed unreferenced message file", "path", p, "size", fi.Size(), "mtime", fi.ModTime())
	return true, fi.Size(), nil
}

// Walk calls fn for each message file, in ID order, with its size and
// modification time. It stops at the first error fn returns and returns
// it as is, and stops when ctx is done. Foreign entries are skipped; a
// file removed during the walk may or may not be reported.
func (s *Store) Walk(ctx context.Context, fn func(id ID, size int64, mtime time.Time) error) error {
	return s.walk(ctx, func(id ID, _ string, fi fs.FileInfo) error {
		return fn(id, fi.Size(), fi.ModTime())
	}, func(string) {})
}

// walk calls visit, in ID order, for every regular file at a message
// file's path, in both layouts: a file in a first-level directory ab named
// by an ID starting with ab, and a file in a legacy second-level directory
// ab/cd named by an ID starting with abcd. (An ID at both paths, which
// only a crash or a hand-made copy leaves, is visited twice, the file at
// its path first.) It calls foreign for every other entry in the root and
// the blob directories (tmp/ excepted); a directory is reported, not
// entered. A legacy directory found sets its first-level directory's bit
// in s.legacy, so that lookups find its files.
func (s *Store) walk(ctx context.Context, visit func(id ID, dir string, fi fs.FileInfo) error, foreign func(path string)) error {
	l1, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("blob: reading %s: %w", s.root, err)
	}
	// A message file found in one first-level directory.
	type file struct {
		name string
		dir  string
		e    fs.DirEntry
	}
	var found []file
	for _, e1 := range l1 {
		if e1.Name() == tmpDirName {
			continue
		}
		d1 := filepath.Join(s.root, e1.Name())
		if !isHex2(e1.Name()) || !e1.IsDir() {
			foreign(d1)
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		l2, err := os.ReadDir(d1)
		if err != nil {
			return fmt.Errorf("blob: reading %s: %w", d1, err)
		}
		found = found[:0]
		legacy := false
		for _, e2 := range l2 {
			name := e2.Name()
			switch {
			case validID(name) && name[:2] == e1.Name() && e2.Type().IsRegular():
				found = append(found, file{name, d1, e2})
			case isHex2(name) && e2.IsDir():
				legacy = true
				d2 := filepath.Join(d1, name)
				l3, err := os.ReadDir(d2)
				if err != nil {
					return fmt.Errorf("blob: reading %s: %w", d2, err)
				}
				for _, e3 := range l3 {
					n3 := e3.Name()
					if !validID(n3) || n3[:2] != e1.Name() || n3[2:4] != name || !e3.Type().IsRegular() {
						foreign(filepath.Join(d2, n3))
						continue
					}
					found = append(found, file{n3, d2, e3})
				}
			default:
				foreign(filepath.Join(d1, name))
			}
		}
		if legacy {
			s.setLegacy(hexValue(e1.Name()))
			// Each directory's entries come sorted; merge them, the file at
			// its path before one with the same name at its legacy path.
			slices.SortStableFunc(found, func(a, b file) int {
				return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(len(a.dir), len(b.dir)))
			})
		}
		for _, f := range found {
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := f.e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return fmt.Errorf("blob: stat %s: %w", filepath.Join(f.dir, f.name), err)
			}
			if err := visit(ID(f.name), f.dir, fi); err != nil {
				return err
			}
		}
	}
	return nil
}
