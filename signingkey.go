package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// signingKey is a Nix binary-cache signing key as `nix-store --generate-binary-cache-key`
// writes it: "name:" and the base64 of libsodium's 64-byte Ed25519 secret key, which is the
// 32-byte seed followed by the 32-byte public key (Nix src/libstore/crypto.cc,
// SecretKey and toPublicKey; libsodium crypto_sign_keypair). So the public half comes from the secret key.
type signingKey struct {
	name   string
	secret ed25519.PrivateKey
}

// parseSigningKey reads "name:base64". Its errors never quote the key.
func parseSigningKey(raw string) (*signingKey, error) {
	name, encoded, found := strings.Cut(raw, ":")
	if !found || name == "" || strings.ContainsAny(name, " \t\n") {
		return nil, errors.New("it must be a name, a colon and the base64 key, such as cache.example.org-1:…")
	}
	secret, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("the part after the colon is not base64")
	}
	if len(secret) != ed25519.PrivateKeySize {
		if len(secret) == ed25519.PublicKeySize {
			return nil, errors.New("it holds 32 bytes: that is the public key (.pk), not the secret key (.sk)")
		}
		return nil, fmt.Errorf("it holds %d bytes, a Nix secret key holds %d", len(secret), ed25519.PrivateKeySize)
	}
	key := ed25519.PrivateKey(secret)
	if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
		return nil, errors.New("its public half does not belong to its seed")
	}
	return &signingKey{name: name, secret: key}, nil
}

// checkSigningPublicKey says what is wrong with a Nix binary-cache public key ("name:" and
// the base64 of 32 bytes), or "" when nothing is.
func checkSigningPublicKey(raw string) string {
	name, encoded, found := strings.Cut(raw, ":")
	key, err := base64.StdEncoding.DecodeString(encoded)
	switch {
	case !found || name == "" || strings.ContainsAny(name, " \t\n"):
		return "must be a name, a colon and the base64 key, such as cache.example.org-1:…, as the .pk file holds it"
	case err != nil:
		return "is not a Nix public key: the part after the colon is not base64"
	case len(key) == ed25519.PrivateKeySize:
		return "holds 64 bytes: that is the secret key (.sk), now in plain text in the stack's file; remove it (and rotate the key if that file was shared), " +
			"put the secret key in SSM (docs/ci-iam.md) and its public key (.pk) here"
	case len(key) != ed25519.PublicKeySize:
		return fmt.Sprintf("holds %d bytes, a Nix public key holds %d", len(key), ed25519.PublicKeySize)
	}
	return ""
}

// secretValue is the key as Nix reads it, for the SSM parameter only.
func (k *signingKey) secretValue() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.secret)
}

// publicKey is the line for nix.conf's trusted-public-keys: "name:base64" of 32 bytes.
func (k *signingKey) publicKey() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.secret.Public().(ed25519.PublicKey))
}

// String keeps the secret out of any message that prints the key by mistake.
func (k *signingKey) String() string { return k.name + ":<secret>" }
