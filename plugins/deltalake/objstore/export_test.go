package objstore

// SetListPageSize makes a cloud store list n objects per request, so that
// tests exercise pagination with a handful of objects.
func SetListPageSize(s Store, n int32) {
	switch st := s.(type) {
	case *S3:
		st.listPageSize = n
	case *Azure:
		st.listPageSize = n
	case *GCS:
		st.listPageSize = n
	default:
		panic("SetListPageSize: not a cloud store")
	}
}
