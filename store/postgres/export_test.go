package postgres

// Internals that the external tests check.

// ClaimQuery is the statement of ClaimJobs, for its query plan.
const ClaimQuery = claimQuery

// MigrationVersions returns the versions of the embedded migrations.
func MigrationVersions() ([]int, error) {
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.version
	}
	return out, nil
}
