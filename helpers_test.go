package main

// urnName is the logical name at the end of a URN.
func urnName(urn string) string {
	for i := len(urn) - 1; i > 0; i-- {
		if urn[i] == ':' && urn[i-1] == ':' {
			return urn[i+1:]
		}
	}
	return urn
}
