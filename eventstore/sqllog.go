package eventstore

// Scanner reads one row: pgx's and database/sql's rows have it.
type Scanner interface{ Scan(dest ...any) error }

// SQLLog is what a reader that queries the events table itself, in
// transactions of its own, needs of a driver: the projection engine reads
// the log's pages in the transaction that writes its read models, so that
// the two commit together. Each driver's Store implements it.
type SQLLog interface {
	// EventColumns is the start of a query of events: "SELECT <columns>
	// FROM events e ", with ? placeholders in what follows it.
	EventColumns() string
	// GapSafeCondition is a WHERE condition on e that keeps a reader of
	// the whole log below any position a transaction still open may yet
	// commit, or "" for a backend whose appends commit in position order.
	GapSafeCondition() string
	// ScanEvent reads one row of EventColumns, its personal fields opened
	// as the store's reads open them.
	ScanEvent(row Scanner) (Event, error)
}
