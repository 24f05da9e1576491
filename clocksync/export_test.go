package clocksync

// BoundScale exposes the coverage self-check's state to the tests.
func (e *Estimator) BoundScale() (scale float64, misses, updates int64) {
	return e.st.BoundScale, e.st.Cov.Misses, e.st.Cov.Judged
}
