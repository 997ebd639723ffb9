{{/*
The cloud config INI rendered from .Values.cloudConfig. Only keys with a
value are written, so the driver's profile defaults apply to the rest.
*/}}
{{- define "openblock-csi.cloudConf" -}}
{{- $c := .Values.cloudConfig -}}
{{- if $c.raw -}}
{{ $c.raw }}
{{- else -}}
{{- $g := $c.global -}}
{{- $caFile := $g.caFile -}}
{{- if and (not $caFile) $c.caCert -}}
{{- $caFile = "/etc/openblock/ca.crt" -}}
{{- end -}}
{{- $global := list
  (list "auth-url" $g.authURL)
  (list "username" $g.username)
  (list "password" $g.password)
  (list "tenant-id" $g.tenantID)
  (list "tenant-name" $g.tenantName)
  (list "domain-name" $g.domainName)
  (list "region" $g.region)
  (list "ca-file" $caFile)
  (list "application-credential-id" $g.applicationCredentialID)
  (list "application-credential-secret" $g.applicationCredentialSecret) -}}
{{- $lines := list }}
{{- range $global }}
{{- if index . 1 }}
{{- $lines = append $lines (printf "%s = %s" (index . 0) (include "openblock-csi.iniQuote" (index . 1))) }}
{{- end }}
{{- end }}
{{- if $lines }}
[Global]
{{ join "\n" $lines }}

{{ end -}}
[BlockStorage]
{{- $b := $c.blockStorage }}
backend = {{ $b.backend }}
profile = {{ $b.profile }}
{{- if ne (toString $b.apiVersion) "" }}
api-version = {{ $b.apiVersion }}
{{- end }}
{{- if gt (float64 $b.rateLimit) 0.0 }}
rate-limit = {{ $b.rateLimit }}
{{- end }}
{{- if gt (int64 $b.attachLimit) 0 }}
attach-limit = {{ $b.attachLimit }}
{{- end }}
{{- with $b.zones }}
zones = {{ join "," . }}
{{- end }}
{{- with $b.defaultZone }}
default-zone = {{ include "openblock-csi.iniQuote" . }}
{{- end }}
{{- $l := $c.lunanode }}
{{- if or (eq $b.backend "lunanode") $l.apiID }}

[Lunanode]
{{- with $l.apiID }}
api-id = {{ include "openblock-csi.iniQuote" . }}
{{- end }}
{{- with $l.apiKey }}
api-key = {{ include "openblock-csi.iniQuote" . }}
{{- end }}
{{- with $l.apiURL }}
api-url = {{ include "openblock-csi.iniQuote" . }}
{{- end }}
{{- with $l.zones }}
zones = {{ join "," . }}
{{- end }}
{{- with $l.defaultZone }}
default-zone = {{ include "openblock-csi.iniQuote" . }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
