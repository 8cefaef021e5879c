package registry

import "fmt"

// validateSchemaSetting checks the arguments of SetSchemaSetting and
// SchemaSetting (value "" is a removal, checked by the caller's path).
func validateSchemaSetting(subject string, kind SchemaSettingKind, value string) error {
	if subject != "" {
		if err := validateFreeName("subject", subject); err != nil {
			return err
		}
	}
	switch kind {
	case SchemaCompatibilitySetting, SchemaModeSetting, SchemaValidationSetting:
	default:
		return &ValidationError{Field: "schema setting", Value: shorten(string(kind)), Reason: "must be compatibility, mode or validation"}
	}
	if len(value) > MaxSchemaSettingLen {
		return &ValidationError{Field: "schema setting value", Value: shorten(value),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(value), MaxSchemaSettingLen)}
	}
	for i := 0; i < len(value); i++ {
		if value[i] <= ' ' || value[i] > '~' {
			return &ValidationError{Field: "schema setting value", Value: shorten(value),
				Reason: fmt.Sprintf("byte %d is not printable ASCII", i)}
		}
	}
	return nil
}
