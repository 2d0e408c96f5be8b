# Runner 1's cache volume is deleted outside Pulumi (detached first).
(.volumes | to_entries[] | select(.value.Tags.Name == "n3x-x86-runner-cache") | .key) as $id
| .volumes |= del(.[$id]) | .attachments |= with_entries(select(.value.VolumeID != $id and .value.Volume != $id))
