# PKI and kubeconfigs of the end-to-end cluster (sourced by e2e-cluster.sh).
# One CA signs everything; every identity is a client certificate.

# cert NAME CN [O...]: a client (and, with SAN set, server) certificate.
cert() {
	local name="$1" cn="$2"; shift 2
	local subj="/CN=${cn}" o
	for o in "$@"; do subj="/O=${o}${subj}"; done
	local dir="${E2E_RUN}/pki"
	openssl genrsa -out "${dir}/${name}.key" 2048 2>/dev/null
	openssl req -new -key "${dir}/${name}.key" -subj "${subj}" -out "${dir}/${name}.csr" 2>/dev/null
	local ext="${dir}/${name}.ext"
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [ -n "${SAN:-}" ]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=${SAN}"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"${ext}"
	openssl x509 -req -in "${dir}/${name}.csr" -CA "${dir}/ca.crt" -CAkey "${dir}/ca.key" -CAcreateserial \
		-days 7 -extfile "${ext}" -out "${dir}/${name}.crt" 2>/dev/null
	rm -f "${dir}/${name}.csr" "${ext}"
}

# kubeconfig NAME CERT: a kubeconfig for the client certificate CERT.
kubeconfig() {
	local name="$1" c="$2" pki="${E2E_RUN}/pki"
	cat >"${E2E_RUN}/${name}.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:${E2E_APISERVER_PORT}
    certificate-authority-data: $(base64 -w0 "${pki}/ca.crt")
users:
- name: ${name}
  user:
    client-certificate-data: $(base64 -w0 "${pki}/${c}.crt")
    client-key-data: $(base64 -w0 "${pki}/${c}.key")
contexts:
- name: e2e
  context: {cluster: e2e, user: ${name}}
current-context: e2e
EOF
	chmod 0600 "${E2E_RUN}/${name}.kubeconfig"
}

make_pki() {
	local pki="${E2E_RUN}/pki"
	mkdir -p "${pki}"
	openssl genrsa -out "${pki}/ca.key" 2048 2>/dev/null
	openssl req -x509 -new -key "${pki}/ca.key" -subj "/CN=openblock-e2e-ca" -days 7 -out "${pki}/ca.crt" 2>/dev/null
	SAN="IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
		cert apiserver kube-apiserver
	SAN="IP:127.0.0.1,DNS:localhost" cert kubelet-serving localhost
	cert admin e2e-admin system:masters
	cert apiserver-kubelet apiserver-kubelet-client system:masters
	cert controller-manager system:kube-controller-manager
	cert scheduler system:kube-scheduler
	cert kubelet system:node:${E2E_NODE_NAME} system:nodes
	cert snapshot-controller e2e-snapshot-controller system:masters
	# The driver's controller: its ServiceAccount's identity, so only the
	# chart's RBAC applies (pods cannot use in-cluster config here: no
	# kube-proxy, no service network).
	cert driver-controller "system:serviceaccount:${E2E_DRIVER_NAMESPACE}:${E2E_DRIVER_RELEASE}-controller" \
		system:serviceaccounts "system:serviceaccounts:${E2E_DRIVER_NAMESPACE}"
	openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
	openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
	kubeconfig admin admin
	kubeconfig controller-manager controller-manager
	kubeconfig scheduler scheduler
	kubeconfig kubelet kubelet
	kubeconfig snapshot-controller snapshot-controller
	kubeconfig driver-controller driver-controller
	# The controller pod runs as a non-root user and reads it from a hostPath.
	chmod 0644 "${E2E_RUN}/driver-controller.kubeconfig"
}
