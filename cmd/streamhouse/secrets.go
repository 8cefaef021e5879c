package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// minSecretLen is the least length of the token key and the pepper:
// HS256's key should be at least its hash's 32 bytes (RFC 7518 3.2).
const minSecretLen = 32

// secrets are the managed layer's two keys.
type secrets struct {
	TokenKey  []byte `json:"token_key"`
	KeyPepper []byte `json:"key_pepper"`
}

// validateManaged checks the router's managed-service settings.
func (c *Config) validateManaged() error {
	switch c.Auth {
	case "on":
		if _, err := decodeSecret("token-key", c.TokenKey); err != nil {
			return err
		}
		if _, err := decodeSecret("key-pepper", c.KeyPepper); err != nil {
			return err
		}
	case "off":
	default:
		return &ConfigError{"auth", c.Auth, "want on or off"}
	}
	if c.MeterInterval < time.Second {
		return &ConfigError{"meter-interval", c.MeterInterval.String(), "must be at least 1s"}
	}
	return nil
}

// secrets returns the decoded keys of a validated Config with Auth on.
func (c *Config) secrets() (secrets, error) {
	k, err := decodeSecret("token-key", c.TokenKey)
	if err != nil {
		return secrets{}, err
	}
	p, err := decodeSecret("key-pepper", c.KeyPepper)
	if err != nil {
		return secrets{}, err
	}
	return secrets{TokenKey: k, KeyPepper: p}, nil
}

// decodeSecret decodes a base64 (standard or URL alphabet, padded or not)
// secret of at least minSecretLen bytes; the error never shows it.
func decodeSecret(setting, v string) ([]byte, error) {
	if v == "" {
		return nil, &ConfigError{setting, "", fmt.Sprintf("required with auth on: base64 of %d or more random bytes (openssl rand -base64 32)", minSecretLen)}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) < minSecretLen {
				return nil, &ConfigError{setting, "(hidden)", fmt.Sprintf("%d bytes decoded; at least %d required", len(b), minSecretLen)}
			}
			return b, nil
		}
	}
	return nil, &ConfigError{setting, "(hidden)", "not base64"}
}

// devSecrets returns the dev cell's keys, kept in dir/secrets.json (0600)
// so that tokens and API keys outlive a restart; the first start makes
// them.
func devSecrets(dir string) (secrets, error) {
	path := filepath.Join(dir, "secrets.json")
	data, err := os.ReadFile(path)
	if err == nil {
		var s secrets
		if err := json.Unmarshal(data, &s); err != nil {
			return secrets{}, fmt.Errorf("read %s: %w", path, err)
		}
		if len(s.TokenKey) < minSecretLen || len(s.KeyPepper) < minSecretLen {
			return secrets{}, fmt.Errorf("read %s: keys shorter than %d bytes; delete the file to make new ones (API keys made with the old ones stop working)", path, minSecretLen)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return secrets{}, fmt.Errorf("read %s: %w", path, err)
	}
	s := secrets{TokenKey: make([]byte, minSecretLen), KeyPepper: make([]byte, minSecretLen)}
	if _, err := rand.Read(s.TokenKey); err != nil {
		return secrets{}, fmt.Errorf("make secrets: %w", err)
	}
	if _, err := rand.Read(s.KeyPepper); err != nil {
		return secrets{}, fmt.Errorf("make secrets: %w", err)
	}
	data, err = json.Marshal(s)
	if err != nil {
		return secrets{}, fmt.Errorf("make secrets: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return secrets{}, fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}
