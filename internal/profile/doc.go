// Package profile reads and validates a vendor profile: the one small file
// that holds everything brand-specific about a build of rolecall (the name,
// the principal that assumes the role, the role's name, the callback URL,
// the support contact, where templates are published).
//
// Synth reads one profile; no other code names a vendor.
package profile
