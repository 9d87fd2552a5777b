package delta

// removeConflicts fails when an intervening commit removed a file this
// transaction removes (checked against commits, so it also works when the
// table does not track files).
func removeConflicts(tx *Transaction, ws []*CommitEntry) error {
	if len(tx.Removes) == 0 {
		return nil
	}
	ours := make(map[string]bool, len(tx.Removes))
	for _, r := range tx.Removes {
		ours[FileKey(r.Path)] = true
	}
	for _, w := range ws {
		for i := range w.Actions {
			if r := w.Actions[i].Remove; r != nil && ours[FileKey(r.Path)] {
				return &ConcurrentDeleteError{Path: r.Path}
			}
		}
	}
	return nil
}

// othersOnly drops the commits this Table made itself.
func othersOnly(ws []*CommitEntry) []*CommitEntry {
	out := ws[:0:0]
	for _, w := range ws {
		if !w.own {
			out = append(out, w)
		}
	}
	return out
}

// checkWinners runs the hook and the txn-appId checks against commits made
// by others.
func (t *Table) checkWinners(tx *Transaction, ws []*CommitEntry) error {
	if len(ws) == 0 {
		return nil
	}
	if tx.OnConflict != nil {
		if err := tx.OnConflict(ws); err != nil {
			return err
		}
	}
	ours := map[string]int64{}
	for _, x := range tx.Txns {
		ours[x.AppID] = x.Version
	}
	for _, w := range ws {
		for _, x := range w.Txns() {
			if v, ok := ours[x.AppID]; ok {
				return &TransactionConflictError{AppID: x.AppID, Version: v, TableVersion: x.Version, CommitVersion: w.Version}
			}
		}
	}
	return nil
}
