include $(sort $(wildcard $(BR2_EXTERNAL_KMSGATE_PATH)/package/*/*.mk))
