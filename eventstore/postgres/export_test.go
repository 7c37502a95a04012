package postgres

import (
	"context"

	"github.com/capacitytracker/capacity/eventstore"
)

// CommitTogether runs each request list as one caller's append, all of them
// in one group commit batch, as the commit queue does under load.
func (s *Store) CommitTogether(ctx context.Context, calls ...[]eventstore.AppendRequest) ([]eventstore.Outcome, error) {
	jobs := make([]*appendJob, len(calls))
	for i, reqs := range calls {
		keys, err := s.subjectKeys(ctx, reqs)
		if err != nil {
			return nil, err
		}
		jobs[i] = &appendJob{}
		for _, r := range reqs {
			p, err := s.prepare(r, keys)
			if err != nil {
				return nil, err
			}
			jobs[i].prepared = append(jobs[i].prepared, p)
			jobs[i].events += len(p.ids)
		}
	}
	outcomes := make([]eventstore.Outcome, len(jobs))
	s.commitBatch(jobs, outcomes)
	return outcomes, nil
}
