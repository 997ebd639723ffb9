{{/* The CSI driver name; the binary and the CSIDriver object must agree. */}}
{{- define "openblock-csi.driverName" -}}
block.csi.openblock.io
{{- end }}

{{- define "openblock-csi.topologyKey" -}}
topology.block.csi.openblock.io/zone
{{- end }}

{{- define "openblock-csi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix; suffixes like -controller keep within 63 chars. */}}
{{- define "openblock-csi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "openblock-csi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openblock-csi.labels" -}}
helm.sh/chart: {{ include "openblock-csi.chart" . }}
{{ include "openblock-csi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openblock-csi
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "openblock-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openblock-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: pass (dict "ctx" $ "component" "controller"). */}}
{{- define "openblock-csi.componentLabels" -}}
{{ include "openblock-csi.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "openblock-csi.componentSelectorLabels" -}}
{{ include "openblock-csi.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "openblock-csi.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "openblock-csi.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "openblock-csi.node.serviceAccountName" -}}
{{- if .Values.node.serviceAccount.create }}
{{- default (printf "%s-node" (include "openblock-csi.fullname" .)) .Values.node.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.node.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The driver image: repository:tag, or repository@digest. */}}
{{- define "openblock-csi.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* A sidecar image from its values block. */}}
{{- define "openblock-csi.sidecarImage" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{- define "openblock-csi.cloudConfigSecretName" -}}
{{- default (printf "%s-cloud-config" (include "openblock-csi.fullname" .)) .Values.cloudConfig.existingSecret }}
{{- end }}

{{- define "openblock-csi.cloudConfigPath" -}}
/etc/openblock/{{ .Values.cloudConfig.key }}
{{- end }}

{{/* kubelet paths on the host. */}}
{{- define "openblock-csi.kubeletDir" -}}
{{- .Values.kubeletDir | trimSuffix "/" }}
{{- end }}

{{- define "openblock-csi.pluginDir" -}}
{{ include "openblock-csi.kubeletDir" . }}/plugins/{{ include "openblock-csi.driverName" . }}
{{- end }}

{{/*
An INI value in gcfg quoting, which the driver's config parser reads: a
double-quoted string with \ and " escaped, so passwords may hold # ; = and
spaces.
*/}}
{{- define "openblock-csi.iniQuote" -}}
"{{ . | toString | replace "\\" "\\\\" | replace "\"" "\\\"" | replace "\n" "\\n" | replace "\t" "\\t" }}"
{{- end }}

{{/* The kubeconfig flag and mount for sidecars that talk to the API server. */}}
{{- define "openblock-csi.kubeconfigArg" -}}
{{- if .Values.kubeconfig.enabled }}
- --kubeconfig=/etc/kubernetes/openblock-csi/kubeconfig
{{- end }}
{{- end }}

{{- define "openblock-csi.kubeconfigMount" -}}
{{- if .Values.kubeconfig.enabled }}
- name: kubeconfig
  mountPath: /etc/kubernetes/openblock-csi/kubeconfig
  readOnly: true
{{- end }}
{{- end }}

{{/* Leader election flags shared by the controller sidecars. */}}
{{- define "openblock-csi.leaderElectionArgs" -}}
- --leader-election=true
- --leader-election-namespace=$(NAMESPACE)
- --leader-election-lease-duration={{ .Values.leaderElection.leaseDuration }}
- --leader-election-renew-deadline={{ .Values.leaderElection.renewDeadline }}
- --leader-election-retry-period={{ .Values.leaderElection.retryPeriod }}
{{- end }}

{{/* Checksum of the rendered cloud config, so pods restart when it changes. */}}
{{- define "openblock-csi.cloudConfigChecksum" -}}
{{- if not .Values.cloudConfig.existingSecret }}
checksum/cloud-config: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/*
The parts every controller sidecar shares after its args: env, the metrics
port, a liveness probe on its leader-election health check, mounts, security
context and resources. Pass (dict "ctx" $ "sidecar" <values> "portName" <name>).
*/}}
{{- define "openblock-csi.sidecarCommon" -}}
env:
  - name: ADDRESS
    value: /csi/csi.sock
  - name: NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
ports:
  - name: {{ .portName }}
    containerPort: {{ .sidecar.httpPort }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /healthz/leader-election
    port: {{ .portName }}
  initialDelaySeconds: 10
  timeoutSeconds: 10
  periodSeconds: 20
  failureThreshold: 3
volumeMounts:
  - name: socket-dir
    mountPath: /csi
  {{- with include "openblock-csi.kubeconfigMount" .ctx }}{{ . | trim | nindent 2 }}{{ end }}
{{- with .ctx.Values.controller.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .sidecar.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
