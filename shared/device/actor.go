package device

import "context"

// Actor is who made a change, as the audit trail and events record it.
type Actor struct {
	Kind      string // ActorUser, ActorRotation or ActorSystem
	Subject   string // the user's subject, or the system component
	SourceIP  string
	UserAgent string
	RequestID string
}

// The kinds of actors.
const (
	ActorUser     = "user"
	ActorRotation = "rotation" // Secrets Manager's scheduled rotation
	ActorSystem   = "system"   // the expiry sweep, the reconciler
)

// Actor returns the caller as the author of a change.
func (c Caller) Actor() Actor {
	return Actor{Kind: ActorUser, Subject: c.Subject, SourceIP: c.SourceIP, UserAgent: c.UserAgent, RequestID: c.RequestID}
}

type actorKey struct{}

// WithActor records who makes the changes done with ctx; the store writes
// it on the items it changes, so the stream handler can say who did what.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor recorded in ctx; a system actor if none.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem, Subject: "devicepass"}
}
