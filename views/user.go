package views

import "context"

// User is what every page knows of the visitor: for the navigation bar and
// a one-time message.
type User struct {
	Email    string
	IsAdmin  bool
	IsStaff  bool // moderator or admin
	SignedIn bool
	Guest    bool   // has uploaded without an account
	Flash    string // message from the previous request
}

type userKey struct{}

// WithUser stores the visitor for the layout to read.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

func currentUser(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}
