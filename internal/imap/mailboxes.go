package imap

import (
	"errors"
	"reflect"
	"sort"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/m-store/mstore/internal/imap/imapserver"

	"github.com/m-store/mstore/internal/store"
)

// delim is the hierarchy delimiter on the wire (store.Separator).
const delim = '/'

// maxPattern bounds a LIST pattern: names are at most 1000 bytes, and a
// longer pattern only costs matching time.
const maxPattern = 2048

// Create makes a mailbox and any missing parents (RFC 3501 6.3.3); a
// trailing delimiter only declares the intent to create children.
// CREATE-SPECIAL-USE (RFC 6154) sets one special use.
func (ss *session) Create(name string, o *goimap.CreateOptions) error {
	defer ss.begin()()
	name = strings.TrimSuffix(name, string(delim))
	var use string
	if o != nil && len(o.SpecialUse) > 0 {
		if len(o.SpecialUse) > 1 {
			return no(codeUseAttr, "Only one special use per mailbox")
		}
		for _, u := range store.SpecialUses {
			if strings.EqualFold(u, string(o.SpecialUse[0])) {
				use = u
			}
		}
		if use == "" {
			return no(codeUseAttr, "Special use %s is not supported (only %s)", o.SpecialUse[0], strings.Join(store.SpecialUses, " "))
		}
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	if _, err := ss.srv.st.CreateMailbox(ctx, ss.acct.Name, name, use); err != nil {
		return ss.storeErr("CREATE", err, codeNonExistent)
	}
	return nil
}

// Delete deletes a mailbox as RFC 3501 6.3.4 says (the store keeps a
// mailbox with children as \Noselect).
func (ss *session) Delete(name string) error {
	defer ss.begin()()
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.st.DeleteMailbox(ctx, ss.acct.Name, name); err != nil {
		return ss.storeErr("DELETE", err, codeNonExistent)
	}
	return nil
}

// Rename renames a mailbox with its children; renaming INBOX moves its
// messages to the new mailbox and leaves INBOX empty (the store does it).
func (ss *session) Rename(from, to string, _ *goimap.RenameOptions) error {
	defer ss.begin()()
	to = strings.TrimSuffix(to, string(delim))
	ctx, cancel := ss.ctx()
	defer cancel()
	if m := ss.sel; m != nil && m.name == "INBOX" && strings.EqualFold(from, "INBOX") {
		m.renamedOwn = true // this session knows; see selected.inboxRenamed
	}
	if err := ss.srv.st.RenameMailbox(ctx, ss.acct.Name, from, to); err != nil {
		return ss.storeErr("RENAME", err, codeNonExistent)
	}
	return nil
}

// Subscribe adds a subscription; the mailbox must exist.
func (ss *session) Subscribe(name string) error {
	defer ss.begin()()
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.st.Subscribe(ctx, ss.acct.Name, name, true); err != nil {
		return ss.storeErr("SUBSCRIBE", err, codeNonExistent)
	}
	return nil
}

// Unsubscribe removes a subscription, whether or not the mailbox exists.
func (ss *session) Unsubscribe(name string) error {
	defer ss.begin()()
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.st.Subscribe(ctx, ss.acct.Name, name, false); err != nil {
		return ss.storeErr("UNSUBSCRIBE", err, codeNonExistent)
	}
	return nil
}

// isLSUB tells LSUB from LIST (SUBSCRIBED): go-imap hands both to List
// with the same options, but their answers differ (RFC 3501 6.3.9 against
// RFC 5258).
func isLSUB(w *imapserver.ListWriter) bool {
	v := reflect.ValueOf(w).Elem().FieldByName("lsub")
	return v.IsValid() && v.Kind() == reflect.Bool && v.Bool()
}

// List answers LIST, LIST-EXTENDED (RFC 5258: SUBSCRIBED, RECURSIVEMATCH,
// SPECIAL-USE selection; SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS return
// options) and LSUB.
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, o *goimap.ListOptions) error {
	defer ss.begin()()
	if len(patterns) == 0 {
		// LIST ref "": the delimiter and the root of ref's hierarchy.
		root := ""
		if i := strings.IndexByte(ref, delim); i >= 0 {
			root = ref[:i+1]
		}
		return w.WriteList(&goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: delim, Mailbox: root})
	}
	full := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if len(ref)+len(p) > maxPattern {
			return bad("LIST pattern too long")
		}
		full = append(full, ref+p)
	}
	match := func(name string) bool {
		for _, p := range full {
			if listMatch(name, p) {
				return true
			}
		}
		return false
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	mbs, err := ss.srv.st.Mailboxes(ctx, ss.acct.Name)
	if err != nil {
		return ss.storeErr("LIST", err, codeNonExistent)
	}
	byName := make(map[string]*store.MailboxInfo, len(mbs))
	for i := range mbs {
		byName[mbs[i].Name] = &mbs[i]
	}
	lsub := isLSUB(w)
	if o == nil {
		o = &goimap.ListOptions{}
	}
	var subs []string
	if o.SelectSubscribed || lsub {
		if subs, err = ss.srv.st.Subscriptions(ctx, ss.acct.Name); err != nil {
			return ss.storeErr("LIST", err, codeNonExistent)
		}
	}

	var out []*goimap.ListData
	attrsOf := func(mi *store.MailboxInfo, subscribed bool) []goimap.MailboxAttr {
		var a []goimap.MailboxAttr
		if mi == nil {
			a = append(a, goimap.MailboxAttrNonExistent)
			if subscribed {
				a = append(a, goimap.MailboxAttrSubscribed)
			}
			return a
		}
		if mi.NoSelect {
			a = append(a, goimap.MailboxAttrNoSelect)
		}
		if mi.HasChildren {
			a = append(a, goimap.MailboxAttrHasChildren)
		} else {
			a = append(a, goimap.MailboxAttrHasNoChildren)
		}
		if mi.SpecialUse != "" {
			a = append(a, goimap.MailboxAttr(mi.SpecialUse))
		}
		if subscribed {
			a = append(a, goimap.MailboxAttrSubscribed)
		}
		return a
	}

	switch {
	case lsub:
		subscribed := map[string]bool{}
		for _, n := range subs {
			subscribed[n] = true
		}
		seen := map[string]bool{}
		for _, n := range subs {
			if match(n) {
				var a []goimap.MailboxAttr
				if mi := byName[n]; mi == nil || mi.NoSelect {
					a = append(a, goimap.MailboxAttrNoSelect)
				}
				seen[n] = true
				out = append(out, &goimap.ListData{Attrs: a, Delim: delim, Mailbox: n})
				continue
			}
			// LSUB "" "%" shows foo as \Noselect when only foo/bar is
			// subscribed (RFC 3501 6.3.9).
			for i := strings.IndexByte(n, delim); i >= 0; {
				parent := n[:i]
				if !subscribed[parent] && !seen[parent] && match(parent) {
					seen[parent] = true
					out = append(out, &goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: delim, Mailbox: parent})
				}
				j := strings.IndexByte(n[i+1:], delim)
				if j < 0 {
					break
				}
				i += j + 1
			}
		}
	case o.SelectSubscribed:
		subscribed := map[string]bool{}
		for _, n := range subs {
			subscribed[n] = true
		}
		// Names with a subscribed descendant, for RECURSIVEMATCH.
		subKids := map[string]bool{}
		if o.SelectRecursiveMatch {
			for _, n := range subs {
				for i := strings.IndexByte(n, delim); i >= 0; {
					subKids[n[:i]] = true
					j := strings.IndexByte(n[i+1:], delim)
					if j < 0 {
						break
					}
					i += j + 1
				}
			}
		}
		names := append([]string(nil), subs...)
		for n := range subKids {
			if !subscribed[n] {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if !match(n) {
				continue
			}
			mi := byName[n]
			if o.SelectSpecialUse && (mi == nil || mi.SpecialUse == "") {
				continue
			}
			d := &goimap.ListData{Delim: delim, Mailbox: n}
			if subscribed[n] {
				d.Attrs = attrsOf(mi, true)
			} else {
				d.Attrs = attrsOf(mi, false)
			}
			if subKids[n] {
				d.ChildInfo = &goimap.ListDataChildInfo{Subscribed: true}
			}
			out = append(out, d)
		}
	default:
		for i := range mbs {
			mi := &mbs[i]
			if !match(mi.Name) {
				continue
			}
			if o.SelectSpecialUse && mi.SpecialUse == "" {
				continue
			}
			out = append(out, &goimap.ListData{Attrs: attrsOf(mi, o.ReturnSubscribed && mi.Subscribed), Delim: delim, Mailbox: mi.Name})
		}
	}

	for _, d := range out {
		if o.ReturnStatus != nil && !lsub {
			if mi := byName[d.Mailbox]; mi != nil && !mi.NoSelect {
				st, err := ss.status(mi.Name, o.ReturnStatus)
				if err != nil {
					return err
				}
				d.Status = st
			}
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// listMatch matches a mailbox name against a LIST pattern: "*" matches
// anything, "%" anything but the delimiter. INBOX (as the first level) is
// matched case-insensitively. The match is a position-set walk, linear in
// len(name) × len(pattern) whatever the pattern.
func listMatch(name, pat string) bool {
	fold := 0
	if name == "INBOX" || strings.HasPrefix(name, "INBOX/") {
		fold = len("INBOX")
	}
	n := len(pat)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	wild := func(c byte) bool { return c == '*' || c == '%' }
	closure := func(s []bool) {
		for j := 0; j < n; j++ {
			if s[j] && wild(pat[j]) {
				s[j+1] = true
			}
		}
	}
	cur[0] = true
	closure(cur)
	for i := 0; i < len(name); i++ {
		c := name[i]
		clear(next)
		alive := false
		for j := 0; j < n; j++ {
			p := pat[j]
			if wild(p) {
				if cur[j+1] && (p == '*' || c != byte(delim)) {
					next[j+1], alive = true, true
				}
				continue
			}
			if cur[j] && (p == c || i < fold && lower(p) == lower(c)) {
				next[j+1], alive = true, true
			}
		}
		if !alive {
			return false
		}
		closure(next)
		cur, next = next, cur
	}
	return cur[n]
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Status answers STATUS (RFC 3501 6.3.10, RFC 9051 6.3.11 with DELETED and
// SIZE, RFC 7889 APPENDLIMIT).
func (ss *session) Status(name string, o *goimap.StatusOptions) (*goimap.StatusData, error) {
	defer ss.begin()()
	return ss.status(name, o)
}

func (ss *session) status(name string, o *goimap.StatusOptions) (*goimap.StatusData, error) {
	ctx, cancel := ss.ctx()
	defer cancel()
	m, err := ss.srv.st.MailboxStatus(ctx, ss.acct.Name, name)
	if err != nil {
		return nil, ss.storeErr("STATUS", err, codeNonExistent)
	}
	if m.NoSelect {
		return nil, no(codeNonExistent, "Mailbox is \\Noselect")
	}
	d := &goimap.StatusData{Mailbox: m.Name, UIDNext: goimap.UID(m.UIDNext), UIDValidity: m.UIDValidity}
	msgs, unseen, size := m.Messages, m.Unseen, m.Bytes
	if o.NumDeleted || o.NumRecent || o.DeletedStorage {
		sum, err := ss.srv.st.Summary(ctx, m.ID, false)
		if err != nil {
			if errors.Is(err, store.ErrNoMailbox) {
				return nil, no(codeNonExistent, "Mailbox does not exist")
			}
			return nil, ss.storeErr("STATUS", err, codeNonExistent)
		}
		m = sum.Mailbox
		msgs, unseen, size = m.Messages, m.Unseen, m.Bytes
		d.UIDNext, d.UIDValidity = goimap.UID(m.UIDNext), m.UIDValidity
		d.NumDeleted = &sum.Deleted
		d.NumRecent = &sum.Recent
		if sel := ss.sel; sel != nil && sel.id == m.ID && !sel.readOnly {
			// The messages this session took as \Recent are recent
			// for it (RFC 3501 6.3.10), and no longer in the store's
			// count; those it has not taken yet are.
			recent := sum.Recent + sel.countRecent()
			d.NumRecent = &recent
		}
		d.DeletedStorage = &sum.DeletedBytes
	}
	d.NumMessages = &msgs
	d.NumUnseen = &unseen
	d.Size = &size
	limit := uint32(ss.srv.opts.AppendLimit)
	d.AppendLimit = &limit
	return d, nil
}
