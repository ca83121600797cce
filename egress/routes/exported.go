package routes

// ValidHost lowercases and checks a host as a route's host: the agent API
// checks the hosts the agent asks for with it.
func ValidHost(s string) (string, error) { return validRouteHost(s) }

// IsToken reports whether s is an HTTP token (a method, a header name).
func IsToken(s string) bool { return isToken(s) }
