"""Keys and encryption: envelope encryption in the AWS Encryption SDK message format, key providers,
encrypted object stores."""
