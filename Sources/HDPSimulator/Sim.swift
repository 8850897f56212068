public enum HDPSimulatorVersion {}
