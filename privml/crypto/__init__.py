"""Keys and encryption: envelope encryption in the AWS Encryption SDK message format, key providers,
encrypted object stores.

    envelope       encrypt / decrypt (bytes, buffers, files), rewrap, read_header
    message        the message format v2: header layout, key derivation, frame layout
    keys           the KeyProvider interface and DataKey
    local_kms      LocalKms: the local key provider (key store in the workspace)
    aws_kms        AwsKms: AWS KMS through boto3
    raw_aes        RawAesKeyring: a raw AES-256 wrapping key (the SDK's raw AES keyring format)
    kdf            hkdf_secret: the HKDF-SHA256 secret derivation both key providers use
    key_names      the local KMS's key names inside a message (written by local_kms, read by message)
    key_file       FileKeyProvider: derived secrets from a file (isolated jobs and the endpoint)
    providers      default_key_provider(): PRIVML_KEY_PROVIDER = local (default) | aws | file | none
    objectstore    LocalObjectStore, S3ObjectStore
    bucket_policy  the TLS-only, SSE-KMS-only S3 bucket policy
"""
