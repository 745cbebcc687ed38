export { ERROR_CODES, isErrorCode, type ErrorCode } from './codes';
export { ClusterServingError, RequestError, TopologyError, ConfigError, ConnectorError, toClusterServingError, type ErrorContext } from './cluster-serving-error';
