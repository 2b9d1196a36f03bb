// Package access decides who may use the operator side of the server:
// read and admin tokens (compared in constant time, read from files or
// the environment, reloadable), the dashboard's session cookie, the
// operator listener, and the client address behind trusted proxies.
package access
